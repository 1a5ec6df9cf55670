"""Wire codec: a msgpack map of header plus named arrays as [dtype, shape, raw little-endian bytes].

Decoding is zero-copy (`numpy.frombuffer` over the received buffer) and validating: every array is
checked against the env's declared spec (dtype, shape, finite values, value ranges) and every message
against a size limit, so a bad episode is rejected with a reason before anything is stored. Replay stores
the received bytes unchanged, so what the learner reads is exactly what was validated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from vast.common.episode import SCHEMA_VERSION, Episode, episode_arrays
from vast.envs.base import EnvSpec

HEADER_FIELDS: dict[str, type | tuple[type, ...]] = {
    "schema": int,
    "env": str,
    "run": str,
    "actor_id": int,
    "episode_id": int,
    "policy_version": int,
    "length": int,
    "n_agents": int,
    "seed": int,
    "slot": int,
    "metric": (float, int),
    "ret": (float, int),
}
_ALLOWED_DTYPES = {
    "bool",
    "uint8",
    "int8",
    "int16",
    "uint16",
    "int32",
    "int64",
    "float16",
    "float32",
    "float64",
}


# Every reason a message can be rejected for (the `reason` label of the rejection metrics).
REJECT_REASONS = (
    "malformed",
    "bad_header",
    "bad_schema",
    "unknown_env",
    "bad_arrays",
    "bad_dtype",
    "bad_shape",
    "not_finite",
    "bad_value",
    "too_large",
    "future_version",  # claims weights newer than any the learner has published
)


class CodecError(ValueError):
    """A message could not be decoded or failed validation; `reason` is a short metric label."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        if reason not in REJECT_REASONS:
            raise ValueError(f"unknown reject reason {reason!r}")
        self.reason = reason


def encode_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, list]:
    out = {}
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        out[name] = [arr.dtype.name, list(arr.shape), memoryview(arr).cast("B")]
    return out


def decode_arrays(raw: Any, max_elements: int | None = None) -> dict[str, np.ndarray]:
    if not isinstance(raw, dict):
        raise CodecError("malformed", "arrays must be a map of name -> [dtype, shape, bytes]")
    arrays = {}
    for name, item in raw.items():
        if not isinstance(name, str) or not isinstance(item, list | tuple) or len(item) != 3:
            raise CodecError("malformed", f"array {name!r} must be [dtype, shape, bytes]")
        dtype, shape, data = item
        if dtype not in _ALLOWED_DTYPES:
            raise CodecError("bad_dtype", f"array {name!r}: dtype {dtype!r} is not allowed")
        if not isinstance(shape, list | tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise CodecError(
                "bad_shape", f"array {name!r}: shape {shape!r} is not a list of non-negative ints"
            )
        if not isinstance(data, bytes | bytearray | memoryview):
            raise CodecError("malformed", f"array {name!r}: data must be raw bytes")
        count = int(np.prod(shape, dtype=np.int64))
        if max_elements is not None and count > max_elements:
            raise CodecError("too_large", f"array {name!r}: {count} elements exceed the limit {max_elements}")
        dt = np.dtype(dtype).newbyteorder("<")
        if len(data) != count * dt.itemsize:
            raise CodecError(
                "bad_shape", f"array {name!r}: {len(data)} bytes do not match shape {shape} of {dtype}"
            )
        arrays[name] = np.frombuffer(data, dtype=dt, count=count).reshape(shape)
    return arrays


def encode_episode(episode: Episode) -> bytes:
    return msgpack.packb({"h": episode.header, "a": encode_arrays(episode.arrays)}, use_bin_type=True)


def _check_header(header: Any) -> dict[str, Any]:
    if not isinstance(header, dict):
        raise CodecError("malformed", "header must be a map")
    for key, kind in HEADER_FIELDS.items():
        if key not in header:
            raise CodecError("bad_header", f"header field {key!r} is missing")
        value = header[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise CodecError("bad_header", f"header field {key!r} has type {type(value).__name__}")
    if header["schema"] != SCHEMA_VERSION:
        raise CodecError(
            "bad_schema", f"schema version {header['schema']} (this build speaks {SCHEMA_VERSION})"
        )
    if header["actor_id"] < 0 or header["episode_id"] < 0 or header["policy_version"] < 0:
        raise CodecError("bad_header", "actor_id, episode_id and policy_version must be non-negative")
    if not np.isfinite(header["metric"]) or not np.isfinite(header["ret"]):
        raise CodecError("not_finite", "header metric/ret must be finite")
    return header


def validate_episode(episode: Episode, spec: EnvSpec) -> None:
    """Check an episode against its env's declared arrays; raises CodecError with a reason."""
    h = episode.header
    if h["n_agents"] != spec.n_agents:
        raise CodecError(
            "bad_header", f"{spec.name} has {spec.n_agents} agents, episode says {h['n_agents']}"
        )
    t = h["length"]
    if not 1 <= t <= spec.episode_limit:
        raise CodecError("bad_header", f"episode length {t} outside 1..{spec.episode_limit} for {spec.name}")
    expected = episode_arrays(spec)
    got = set(episode.arrays)
    if got != set(expected):
        missing, extra = sorted(set(expected) - got), sorted(got - set(expected))
        raise CodecError(
            "bad_arrays", f"arrays differ from {spec.name}'s spec: missing {missing}, unexpected {extra}"
        )
    for name, want in expected.items():
        arr = episode.arrays[name]
        if arr.dtype != np.dtype(want.dtype):
            raise CodecError(
                "bad_dtype", f"array {name!r}: dtype {arr.dtype} but {spec.name} declares {want.dtype}"
            )
        if arr.shape != (t, *want.shape):
            raise CodecError("bad_shape", f"array {name!r}: shape {arr.shape}, expected {(t, *want.shape)}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise CodecError("not_finite", f"array {name!r} holds NaN or infinite values")
    actions = episode.arrays["actions"]
    if actions.size and (actions.min() < 0 or actions.max() >= spec.n_actions):
        raise CodecError("bad_value", f"actions outside 0..{spec.n_actions - 1}")
    if (episode.arrays["logp"] > 1e-4).any():
        raise CodecError("bad_value", "behaviour log-probabilities must be <= 0")


def decode_episode(
    blob: bytes | memoryview,
    spec_for: Callable[[str], EnvSpec],
    max_bytes: int = 64 * 1024 * 1024,
) -> Episode:
    """Decode and fully validate one episode; `spec_for(env_name)` raises for unknown envs."""
    if len(blob) > max_bytes:
        raise CodecError("too_large", f"episode of {len(blob)} bytes exceeds the limit of {max_bytes}")
    try:
        msg = msgpack.unpackb(blob, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:  # msgpack raises several types for garbage
        raise CodecError("malformed", f"not a msgpack message: {type(exc).__name__}: {exc}") from None
    if not isinstance(msg, dict) or set(msg) != {"h", "a"}:
        raise CodecError("malformed", "episode must be a map with keys 'h' (header) and 'a' (arrays)")
    header = _check_header(msg["h"])
    try:
        spec = spec_for(header["env"])
    except (ValueError, KeyError) as exc:
        raise CodecError("unknown_env", f"unknown env {header['env']!r}: {exc}") from None
    episode = Episode(header=header, arrays=decode_arrays(msg["a"]))
    validate_episode(episode, spec)
    return episode


@dataclass(frozen=True)
class Weights:
    """One publication of the policy: its version, the learner epoch that made it, the arrays."""

    version: int
    params: dict[str, np.ndarray]
    epoch: int = 0


def encode_weights(version: int, state: Mapping[str, Any], epoch: int = 0) -> bytes:
    """A policy state_dict (torch tensors or arrays) as one versioned msgpack blob."""
    arrays = {
        name: (t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t))
        for name, t in state.items()
    }
    return msgpack.packb({"v": int(version), "e": int(epoch), "p": encode_arrays(arrays)}, use_bin_type=True)


def decode_weights(blob: bytes) -> Weights:
    try:
        msg = msgpack.unpackb(blob, raw=False)
    except Exception as exc:
        raise CodecError("malformed", f"weights are not a msgpack message: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("v"), int) or not isinstance(msg.get("e", 0), int):
        raise CodecError("malformed", "weights must be a map with an integer version 'v' and epoch 'e'")
    return Weights(msg["v"], decode_arrays(msg.get("p")), msg.get("e", 0))
