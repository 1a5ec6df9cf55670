"""Wire codec: encode and decode (with full validation) of whole episodes, as actors and replay do."""

from __future__ import annotations

import time

import torch

from vast.common.codec import decode_episode, encode_episode
from vast.common.config import AlgoConfig
from vast.common.networks import make_policy
from vast.common.rollout import EpisodePlayer
from vast.envs.registry import make_spec


def make_episodes(env_name: str, n: int, run: str = "bench") -> list:
    """n episodes played by the initial policy (one batched rollout), stamped as an actor stamps them."""
    spec = make_spec(env_name)
    torch.manual_seed(0)
    player = EpisodePlayer(spec, make_policy(spec, AlgoConfig()), run, actor_id=0)
    return player.play(n, 0, list(range(n)), version=0)[0]


def _rate(fn, items: list, seconds: float) -> float:
    """Items per second over whole passes until `seconds` have elapsed."""
    done, start = 0, time.perf_counter()
    while True:
        for item in items:
            fn(item)
        done += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def codec_rates(env_name: str, seconds: float, episodes: int = 8) -> dict:
    spec = make_spec(env_name)
    played = make_episodes(env_name, episodes)
    blobs = [encode_episode(ep) for ep in played]
    size = sum(len(b) for b in blobs) / len(blobs)
    enc = _rate(encode_episode, played, seconds)
    dec = _rate(lambda b: decode_episode(b, lambda _: spec), blobs, seconds)
    steps = sum(ep.header["length"] for ep in played) / len(played)
    return {
        "bytes_per_episode": size,
        "steps_per_episode": steps,
        "encode_episodes_per_s": enc,
        "encode_MB_per_s": enc * size / 1e6,
        "decode_episodes_per_s": dec,
        "decode_MB_per_s": dec * size / 1e6,
    }
