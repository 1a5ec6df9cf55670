"""Wire codec: exact round trips, zero-copy decoding, and a clear rejection for every kind of bad input."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
import torch

from tests.helpers import make_episodes
from vast.common.codec import CodecError, decode_episode, decode_weights, encode_episode, encode_weights
from vast.common.networks import PolicyNet
from vast.envs.registry import make_spec

SPEC = make_spec("gaussian-squeeze-50")


def spec_for(name):
    if name != SPEC.name:
        raise ValueError("unknown")
    return SPEC


def test_episode_round_trip_is_exact_and_zero_copy():
    ep = make_episodes("gaussian-squeeze-50", 1, "r")[0]
    blob = encode_episode(ep)
    back = decode_episode(blob, spec_for)
    assert back.header == ep.header
    assert set(back.arrays) == set(ep.arrays)
    for name, arr in ep.arrays.items():
        assert back.arrays[name].dtype == arr.dtype
        np.testing.assert_array_equal(back.arrays[name], arr)
        assert not back.arrays[name].flags.owndata  # a view over the received buffer, not a copy


def _mutate(ep, **arrays):
    ep.arrays.update(arrays)
    return encode_episode(ep)


@pytest.mark.parametrize(
    "make_blob, reason",
    [
        (lambda ep: b"\xc1garbage", "malformed"),
        (lambda ep: msgpack.packb({"h": ep.header}), "malformed"),
        (lambda ep: msgpack.packb({"h": {**ep.header, "env": "warehouse-999x"}, "a": {}}), "unknown_env"),
        (
            lambda ep: msgpack.packb(
                {"h": {k: v for k, v in ep.header.items() if k != "policy_version"}, "a": {}}
            ),
            "bad_header",
        ),
        (lambda ep: msgpack.packb({"h": {**ep.header, "schema": 99}, "a": {}}), "bad_schema"),
        (lambda ep: _mutate(ep, rewards=np.array([np.nan], dtype=np.float64)), "not_finite"),
        (lambda ep: _mutate(ep, actions=np.zeros((1, 49), dtype=np.uint8)), "bad_shape"),
        (lambda ep: _mutate(ep, actions=np.zeros((1, 50), dtype=np.int64)), "bad_dtype"),
        (lambda ep: _mutate(ep, actions=np.full((1, 50), 10, dtype=np.uint8)), "bad_value"),
        (lambda ep: _mutate(ep, extra=np.zeros(3, dtype=np.float32)), "bad_arrays"),
        (
            lambda ep: msgpack.packb({"h": ep.header, "a": {"actions": ["uint8", [1, 50], b"\x00" * 7]}}),
            "bad_shape",
        ),
        (lambda ep: msgpack.packb({"h": ep.header, "a": {"actions": ["object", [1], b"\x00"]}}), "bad_dtype"),
    ],
)
def test_bad_episodes_are_rejected_with_a_reason(make_blob, reason):
    ep = make_episodes("gaussian-squeeze-50", 1, "r")[0]
    with pytest.raises(CodecError) as info:
        decode_episode(make_blob(ep), spec_for)
    assert info.value.reason == reason
    assert str(info.value)  # a human-readable message


def test_oversized_episode_is_rejected_before_parsing():
    ep = make_episodes("gaussian-squeeze-50", 1, "r")[0]
    blob = encode_episode(ep)
    with pytest.raises(CodecError) as info:
        decode_episode(blob, spec_for, max_bytes=len(blob) - 1)
    assert info.value.reason == "too_large"


def test_weights_round_trip():
    net = PolicyNet(0, 50, 10)
    weights = decode_weights(encode_weights(7, net.state_dict(), epoch=1234))
    assert (weights.version, weights.epoch) == (7, 1234)
    params = weights.params
    other = PolicyNet(0, 50, 10)
    other.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in params.items()})
    for (k, a), (_, b) in zip(net.state_dict().items(), other.state_dict().items()):
        assert torch.equal(a, b), k
