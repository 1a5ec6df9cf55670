"""Replay service over real ZeroMQ sockets and a real Redis: ack only after storage, de-duplication,
rejection with reasons, and no loss while Redis is down."""

from __future__ import annotations

import logging
import threading

import pytest
import zmq

from tests.helpers import RunningReplay, make_episodes, wait_until
from vast.actors.sender import EpisodeSender
from vast.common.codec import decode_episode, encode_episode
from vast.common.embedded_redis import EmbeddedRedis
from vast.common.lifecycle import StopFlag
from vast.common.ports import free_port
from vast.common.store import RunStore, connect
from vast.envs.registry import make_spec

LOG = logging.getLogger("test")


@pytest.fixture
def replay(store):
    r = RunningReplay(store)
    yield r
    r.close()


def _stored(store):
    entries = store.r.xrange(store.episodes_key)
    return [fields[b"k"].decode() for _, fields in entries]


def test_episodes_are_stored_then_acked_and_resends_are_deduplicated(replay, store):
    sender = EpisodeSender(replay.addr, ack_timeout_s=5, max_in_flight=8, log=LOG)
    episodes = make_episodes("gaussian-squeeze-50", 4, store.run, actor_id=3)
    stop = StopFlag()
    for ep in episodes:
        assert sender.send(ep, stop)
    assert sender.flush(stop, deadline_s=10)
    assert sender.acked == 4
    assert _stored(store) == [ep.key for ep in episodes]
    # what Redis holds decodes to exactly what was sent
    spec = make_spec("gaussian-squeeze-50")
    blob = store.r.xrange(store.episodes_key)[0][1][b"d"]
    assert decode_episode(blob, lambda _: spec).header == episodes[0].header
    # a resend (e.g. the ack was lost) is acknowledged but not stored twice
    assert sender.send(episodes[0], stop) and sender.flush(stop, 10)
    assert len(_stored(store)) == 4
    assert replay.value("vast_replay_episodes_duplicate_total") == 1
    assert replay.value("vast_replay_episodes_accepted_total") == 4
    sender.close()


def test_bad_input_is_rejected_counted_and_answered(replay, store):
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(replay.addr)
    good = make_episodes("gaussian-squeeze-50", 1, store.run)[0]
    cases = [
        ([b"EP", b"0:1", b"not msgpack"], b"rejected:malformed"),
        ([b"HELLO"], b"rejected:malformed"),
        (
            [b"EP", b"0:0", encode_episode(make_episodes("gaussian-squeeze-50", 1, "other-run")[0])],
            b"rejected:bad_header",
        ),
        ([b"EP", b"9:9", encode_episode(good)], b"rejected:bad_header"),  # envelope key lies
        (
            [b"EP", b"0:0", encode_episode(make_episodes("gaussian-squeeze-60", 1, store.run)[0])],
            b"rejected:unknown_env",
        ),
    ]
    for frames, expected in cases:
        sock.send_multipart(frames)
        assert sock.poll(5000), "replay must answer every message"
        reply = sock.recv_multipart()
        assert reply[0] == b"ACK" and reply[2] == expected
    assert _stored(store) == []
    assert replay.value("vast_replay_episodes_rejected_total", reason="malformed") == 2
    assert replay.value("vast_replay_episodes_rejected_total", reason="bad_header") == 2
    assert replay.value("vast_replay_episodes_rejected_total", reason="unknown_env") == 1
    sock.close(0)


def _request(sock, frames, timeout_ms=5000):
    sock.send_multipart(frames)
    assert sock.poll(timeout_ms), "replay must answer"
    return sock.recv_multipart()


def test_future_versions_are_rejected_and_an_old_id_replayed_later_is_a_duplicate(store):
    replay = RunningReplay(store, **{"replay.version_wait_s": "0.3"})
    try:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(replay.addr)
        store.put_weights(3, b"weights of version 3")
        eps = make_episodes("gaussian-squeeze-50", 3, store.run, actor_id=2, version=3)
        eps[1].header["policy_version"] = 4  # no learner has published version 4
        status = [_request(sock, [b"EP", ep.key.encode(), encode_episode(ep)])[2] for ep in eps]
        assert status == [b"stored", b"rejected:future_version", b"stored"]
        # it waited for version 4 in vain, once
        assert replay.value("vast_replay_version_waits_total", outcome="timed_out") == 1
        # the learner trains on the first one and deletes it; an attacker (or a very late resend) replays it
        store.ensure_group()
        entries = store.read_episodes("learner-0", 10, 100)
        assert store.settle([(i, k) for i, _, k in entries], "consumed") == 2
        assert _request(sock, [b"EP", eps[0].key.encode(), encode_episode(eps[0])])[2] == b"duplicate"
        assert _stored(store) == []  # not stored again
        ledger = store.ledger()
        assert ledger == {
            "accepted": 2,
            "duplicate": 1,
            "rejected:future_version": 1,
            "consumed": 2,
            "buffered": 0,
        }
        assert store.r.get(store.seen_key(eps[0].key)) == b"consumed"  # the episode's state in the ledger
        sock.close(0)
    finally:
        replay.close()


def test_an_episode_of_the_version_redis_is_still_storing_waits_for_it(store):
    """The learner broadcasts a version while Redis stores it: an episode claiming the version just
    after the newest stored one waits for the copy (and is stored), one claiming more is rejected."""
    replay = RunningReplay(store, **{"replay.version_wait_s": "30"})
    try:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(replay.addr)
        store.put_weights(3, b"weights of version 3")
        ahead, further = make_episodes("gaussian-squeeze-50", 2, store.run, actor_id=2, version=4)
        further.header["policy_version"] = 5
        assert _request(sock, [b"EP", further.key.encode(), encode_episode(further)])[2] == (
            b"rejected:future_version"  # two ahead: no learner broadcasts before its previous copy is stored
        )
        sock.send_multipart([b"EP", ahead.key.encode(), encode_episode(ahead)])
        assert not sock.poll(300), "no answer while version 4 is not stored"
        store.put_weights(4, b"weights of version 4")  # the learner's copy lands
        assert sock.poll(5000) and sock.recv_multipart()[2] == b"stored"
        assert replay.value("vast_replay_version_waits_total", outcome="stored") == 1
        assert replay.value("vast_replay_version_waits_total", outcome="timed_out") == 0
        assert _stored(store) == [ahead.key]
        sock.close(0)
    finally:
        replay.close()


def test_a_message_over_the_zeromq_size_limit_drops_only_that_connection(store):
    replay = RunningReplay(store, **{"replay.max_episode_bytes": "20000"})
    try:
        big = zmq.Context.instance().socket(zmq.DEALER)
        big.setsockopt(zmq.LINGER, 0)
        big.connect(replay.addr)
        big.send_multipart([b"EP", b"0:1", b"\x00" * 40_000])  # over MAXMSGSIZE: refused by ZeroMQ itself
        assert not big.poll(1000), "no answer: the connection was dropped before anything was buffered"
        big.close(0)
        sender = EpisodeSender(replay.addr, ack_timeout_s=0.5, max_in_flight=8, log=LOG)
        stop = StopFlag()
        assert sender.send(make_episodes("gaussian-squeeze-50", 1, store.run)[0], stop)
        assert sender.flush(stop, 10), "the service is still up for everyone else"
        sender.close()
        assert replay.thread.is_alive() and len(_stored(store)) == 1
    finally:
        replay.close()


def test_nothing_is_acked_while_redis_is_down_and_nothing_is_lost(tmp_path, run_name):
    server = EmbeddedRedis(tmp_path / "r", appendonly=True).start()
    store = RunStore(connect(server.url, timeout_s=1.0), run_name)
    replay = RunningReplay(store)
    sender = EpisodeSender(replay.addr, ack_timeout_s=0.5, max_in_flight=8, log=LOG)
    stop = StopFlag()
    try:
        episodes = make_episodes("gaussian-squeeze-50", 3, run_name)
        assert sender.send(episodes[0], stop) and sender.flush(stop, 10)
        server.stop()
        for ep in episodes[1:]:
            assert sender.send(ep, stop)
        wait_until(lambda: replay.value("vast_replay_redis_errors_total") >= 2, 20, "failed Redis writes")
        sender.poll(0.2)
        assert len(sender.pending) == 2, "episodes must stay unacknowledged while Redis is down"
        assert sender.ledger() == {"sent": 3, "accepted": 1, "duplicate": 0, "rejected": 0, "in_flight": 2}
        # what alerts and health checks read: Redis is down and replay makes no progress
        assert replay.value("vast_redis_up") == 0
        stuck_at = replay.value("vast_replay_last_progress_timestamp_seconds")
        wait_until(lambda: replay.value("vast_replay_redis_errors_total") >= 4, 20, "more failed calls")
        assert replay.value("vast_replay_last_progress_timestamp_seconds") == stuck_at
        server.start()  # same port, AOF keeps the first episode
        assert sender.flush(stop, 30), "resent episodes must be stored once Redis is back"
        wait_until(lambda: replay.value("vast_redis_up") == 1, 10, "vast_redis_up back to 1")
        wait_until(
            lambda: replay.value("vast_replay_last_progress_timestamp_seconds") > stuck_at, 10, "progress"
        )
        assert _stored(store) == [ep.key for ep in episodes]
        ledger = sender.ledger()  # a resend may have found its first copy stored: duplicate, not lost
        assert ledger["sent"] == ledger["accepted"] + ledger["duplicate"] == 3 and ledger["in_flight"] == 0
        assert store.ledger()["accepted"] == 3
    finally:
        sender.close()
        replay.close()
        server.stop()


def test_sender_never_blocks_without_replay_and_delivers_once_replay_appears(store):
    port = free_port()
    sender = EpisodeSender(f"tcp://127.0.0.1:{port}", ack_timeout_s=0.2, max_in_flight=4, log=LOG)
    episodes = make_episodes("gaussian-squeeze-50", 5, store.run)
    stop = StopFlag()
    for ep in episodes[:4]:
        assert sender.send(ep, stop)
    for _ in range(20):  # resend rounds with nobody listening must neither block nor fail
        sender.poll(0.05)
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    assert sender.send(episodes[4], stop) is False, "a full window waits, but gives up when stopped"
    timer.join()
    replay = RunningReplay(store, port=port)  # replay comes up on the address the sender keeps retrying
    try:
        assert sender.flush(StopFlag(), deadline_s=20)
        assert _stored(store) == [ep.key for ep in episodes[:4]]
        assert replay.value("vast_replay_episodes_accepted_total") == 4
    finally:
        sender.close()
        replay.close()


def test_full_backlog_applies_back_pressure_without_losing_episodes(store):
    replay = RunningReplay(store, **{"replay.max_backlog": "3"})
    sender = EpisodeSender(replay.addr, ack_timeout_s=0.3, max_in_flight=8, log=LOG)
    episodes = make_episodes("gaussian-squeeze-50", 5, store.run)
    stop = StopFlag()
    try:
        for ep in episodes:
            assert sender.send(ep, stop)
        wait_until(
            lambda: replay.value("vast_replay_episodes_deferred_total", cause="backlog") >= 2,
            10,
            "back-pressure",
        )
        sender.poll(0.1)
        assert len(_stored(store)) == 3 and len(sender.pending) == 2, "the backlog is full: no ack, no store"
        store.ensure_group()  # the learner consumes two episodes...
        read = store.read_episodes("learner-0", 2, 100)
        store.settle([(entry, key) for entry, _, key in read], "consumed")
        assert sender.flush(stop, 20), "...and the held-back episodes are stored on resend"
        remaining = _stored(store)
        assert sorted(remaining + [ep.key for ep in episodes[:2]]) == sorted(ep.key for ep in episodes)
    finally:
        sender.close()
        replay.close()
