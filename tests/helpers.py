"""Test utilities: bounded waits on conditions (never sleep-and-hope) and episode factories."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from vast.common.config import resolve
from vast.common.episode import Episode
from vast.common.networks import PolicyNet
from vast.common.rollout import rollout
from vast.envs.registry import make_env, make_spec


def wait_until(condition: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.05):
    """Poll `condition` until it returns a truthy value or the deadline passes (then fail loudly)."""
    end = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


def make_episodes(
    env_name: str, n: int, run: str, actor_id: int = 0, version: int = 0, seed: int = 0
) -> list[Episode]:
    spec = make_spec(env_name)
    torch.manual_seed(seed)
    policy = PolicyNet(spec.obs_dense_dim, spec.obs_onehot_dim, spec.n_actions)
    episodes, _ = rollout(
        make_env(spec, n),
        policy,
        seed,
        torch.Generator().manual_seed(seed),
        {"run": run, "actor_id": actor_id, "policy_version": version},
    )
    for i, ep in enumerate(episodes):
        ep.header["episode_id"] = i
        ep.header["slot"] = i
    return episodes


def serial_trainer(run_dir, **overrides):
    """A trainer fed by in-process episodes (the `vast train --serial` topology) writing to run_dir."""
    from vast.learner.local_source import LocalEpisodeSource
    from vast.learner.trainer import Trainer

    cfg = resolve(None, {"run.name": "serial", **overrides}, environ={})
    source = LocalEpisodeSource(cfg, cfg.env.spec())
    return Trainer(cfg, source, source, run_dir)
