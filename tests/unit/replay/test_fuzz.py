"""Property-based fuzzing of a live replay service: a real ReplayRole on a real ZeroMQ socket and a real
Redis, thousands of malformed messages (random and truncated bytes, wrong header fields, wrong dtypes,
shapes, agent counts and environments, NaN/inf, oversized messages, broken envelopes, future policy
versions). Every one must be answered as rejected and counted by reason; the service must stay up; good
episodes sent in between must still be accepted and stored exactly once."""

from __future__ import annotations

import itertools

import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import RunningReplay, make_episodes
from vast.common.codec import REJECT_REASONS, encode_episode
from vast.common.episode import SCHEMA_VERSION
from vast.common.store import RunStore, connect
from vast.envs.registry import make_spec

ENV = "warehouse-4"
SPEC = make_spec(ENV)
MAX_BYTES = 16 * 1024
PUBLISHED = 5  # the newest weights version the (absent) learner has published
FUZZ = settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,  # seeded: the same messages on every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Target:
    """The live service, a client socket, and the bookkeeping the final checks compare against."""

    def __init__(self, redis_url: str, run: str):
        self.store = RunStore(connect(redis_url), run)
        self.store.r.set(self.store.version_key, PUBLISHED)
        self.replay = RunningReplay(self.store, ENV, **{"replay.max_episode_bytes": MAX_BYTES})
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.replay.addr)
        self.template = make_episodes(ENV, 1, run, actor_id=7)[0]
        self.ids = itertools.count(1000)
        self.malformed = 0
        self.good_keys: list[str] = []

    def request(self, frames: list[bytes]) -> list[bytes]:
        self.sock.send_multipart(frames)
        assert self.sock.poll(10_000), "replay must answer every message (and stay up)"
        reply = self.sock.recv_multipart()
        assert self.replay.thread.is_alive(), "the replay service crashed"
        return reply

    def fresh(self) -> tuple[dict, dict]:
        """A valid header and arrays with a new episode id."""
        header = dict(self.template.header, episode_id=next(self.ids))
        return header, {k: v.copy() for k, v in self.template.arrays.items()}

    def send_bad(self, frames: list[bytes]) -> None:
        reply = self.request(frames)
        assert reply[0] == b"ACK" and reply[2].startswith(b"rejected:"), (frames[:2], reply)
        self.malformed += 1

    def send_good(self) -> None:
        header, arrays = self.fresh()
        blob = _packed(header, arrays)
        key = f"{header['actor_id']}:{header['episode_id']}"
        assert self.request([b"EP", key.encode(), blob])[2] == b"stored"
        self.good_keys.append(key)

    def value(self, name: str, **labels) -> float:
        return self.replay.value(name, **labels)

    def close(self) -> None:
        self.sock.close(0)
        self.replay.close()
        self.store.r.close()


def _arrays(arrays: dict) -> dict:
    from vast.common.codec import encode_arrays

    return encode_arrays(arrays)


def _packed(header, arrays) -> bytes:
    return msgpack.packb({"h": header, "a": _arrays(arrays)}, use_bin_type=True)


@pytest.fixture(scope="module")
def target(redis_server):
    t = Target(redis_server.url, "fuzz-replay")
    yield t
    t.close()


# -- strategies of malformed messages -----------------------------------------------------------------
INT64 = st.integers(-(2**63), 2**63 - 1)  # what msgpack can carry
WRONG_TYPE = st.one_of(st.none(), st.text(max_size=8), st.lists(INT64, max_size=3), st.binary(max_size=4))
INT_FIELDS = ("schema", "actor_id", "episode_id", "policy_version", "length", "n_agents", "seed", "slot")


@st.composite
def bad_header(draw, t: Target) -> bytes:
    header, arrays = t.fresh()
    kind = draw(st.sampled_from(["drop", "type", "negative", "agents", "env", "length", "schema", "nan"]))
    if kind == "drop":
        del header[draw(st.sampled_from(sorted(set(header) - {"copy"})))]
    elif kind == "type":
        header[draw(st.sampled_from(INT_FIELDS + ("env", "run", "metric")))] = draw(WRONG_TYPE)
    elif kind == "negative":
        header[draw(st.sampled_from(["actor_id", "episode_id", "policy_version"]))] = draw(
            st.integers(-(2**40), -1)
        )
    elif kind == "agents":
        header["n_agents"] = draw(st.integers(0, 64).filter(lambda n: n != 4))
    elif kind == "env":
        header["env"] = draw(st.sampled_from(["warehouse-8", "battle-20", "gaussian-squeeze-50", "chess"]))
    elif kind == "length":
        header["length"] = draw(st.one_of(st.integers(-5, 0), st.integers(10_000, 2**31)))
    elif kind == "schema":
        header["schema"] = draw(st.integers(0, 2**20).filter(lambda s: s != SCHEMA_VERSION))
    else:
        header[draw(st.sampled_from(["metric", "ret"]))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return _packed(header, arrays)


@st.composite
def bad_arrays(draw, t: Target) -> bytes:
    header, arrays = t.fresh()
    name = draw(st.sampled_from(sorted(arrays)))
    arr = arrays[name]
    kind = draw(st.sampled_from(["dtype", "shape", "missing", "extra", "nan", "value", "rawbytes"]))
    if kind == "dtype":
        other = draw(
            st.sampled_from(["int64", "float64", "int8", "uint16"]).filter(lambda d: d != arr.dtype.name)
        )
        arrays[name] = arr.astype(other)
    elif kind == "shape":
        arrays[name] = np.zeros((arr.shape[0] + draw(st.integers(1, 3)), *arr.shape[1:]), arr.dtype)
    elif kind == "missing":
        del arrays[name]
    elif kind == "extra":
        arrays[draw(st.text("abcdefgh", min_size=1, max_size=6).filter(lambda s: s not in arrays))] = arr
    elif kind == "nan":
        logp = arrays["logp"]
        logp.flat[draw(st.integers(0, logp.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif kind == "value":
        actions = arrays["actions"]
        actions.flat[draw(st.integers(0, actions.size - 1))] = draw(st.integers(SPEC.n_actions, 255))
    else:
        raw = _arrays(arrays)
        dtype, shape, data = raw[name]
        raw[name] = [dtype, shape, bytes(data)[: draw(st.integers(0, max(0, len(bytes(data)) - 1)))]]
        return msgpack.packb({"h": header, "a": raw}, use_bin_type=True)
    return _packed(header, arrays)


@st.composite
def garbage(draw, t: Target) -> bytes:
    kind = draw(st.sampled_from(["random", "truncated", "wrong_top", "oversized"]))
    if kind == "random":
        return draw(st.binary(min_size=0, max_size=512))
    if kind == "truncated":
        blob = encode_episode(t.template)
        return blob[: draw(st.integers(0, len(blob) - 1))]
    if kind == "wrong_top":
        value = draw(
            st.one_of(
                INT64,
                st.text(max_size=20),
                st.lists(INT64, max_size=4),
                st.dictionaries(st.text(max_size=3), INT64, max_size=3),
            )
        )
        return msgpack.packb(value, use_bin_type=True)
    return b"\x00" * draw(st.integers(MAX_BYTES + 1, MAX_BYTES + 4000))


# -- the properties ------------------------------------------------------------------------------------
def _key(blob: bytes, t: Target) -> bytes:
    try:
        h = msgpack.unpackb(blob, raw=False)["h"]
        return f"{h['actor_id']}:{h['episode_id']}".encode()[:64]
    except Exception:
        return b"7:1"


@FUZZ
@given(data=st.data())
def test_bad_headers_and_arrays_are_rejected_and_good_episodes_still_accepted(target, data):
    blob = data.draw(st.one_of(bad_header(target), bad_arrays(target)))
    target.send_bad([b"EP", _key(blob, target), blob])
    if target.malformed % 25 == 0:
        target.send_good()


@FUZZ
@given(data=st.data())
def test_garbage_and_broken_envelopes_are_rejected(target, data):
    kind = data.draw(st.sampled_from(["blob", "blob", "blob", "frames", "long_key", "future", "lying_key"]))
    if kind == "blob":
        blob = data.draw(garbage(target))
        target.send_bad([b"EP", b"7:1", blob])
    elif kind == "frames":
        frames = data.draw(
            st.lists(st.binary(max_size=16), min_size=0, max_size=5).filter(lambda f: len(f) != 3)
        )
        target.send_bad(frames or [b""])
    elif kind == "long_key":
        target.send_bad([b"EP", b"k" * data.draw(st.integers(65, 300)), encode_episode(target.template)])
    elif kind == "future":
        header, arrays = target.fresh()
        header["policy_version"] = data.draw(st.integers(PUBLISHED + 1, 2**40))
        target.send_bad([b"EP", f"7:{header['episode_id']}".encode(), _packed(header, arrays)])
    else:  # the envelope names another episode than the header
        header, arrays = target.fresh()
        target.send_bad([b"EP", f"8:{header['episode_id']}".encode(), _packed(header, arrays)])
    if target.malformed % 25 == 0:
        target.send_good()


def test_every_malformed_message_was_counted_and_only_good_episodes_were_stored(target):
    """Runs after the two properties above (same module-scoped service)."""
    assert target.malformed >= 1000, target.malformed
    rejected = sum(target.value("vast_replay_episodes_rejected_total", reason=r) for r in REJECT_REASONS)
    assert rejected == target.malformed
    for reason in (
        "malformed",
        "bad_header",
        "bad_dtype",
        "bad_shape",
        "not_finite",
        "too_large",
        "future_version",
    ):
        assert target.value("vast_replay_episodes_rejected_total", reason=reason) > 0, reason
    ledger = target.store.ledger()
    assert sum(v for k, v in ledger.items() if k.startswith("rejected:")) == target.malformed
    stored = [fields[b"k"].decode() for _, fields in target.store.r.xrange(target.store.episodes_key)]
    assert stored == target.good_keys and len(stored) >= 40
    assert ledger["accepted"] == len(stored) == target.value("vast_replay_episodes_accepted_total")
    received = target.value("vast_replay_episodes_received_total")
    assert received == target.malformed + len(stored)
    assert target.replay.thread.is_alive()
