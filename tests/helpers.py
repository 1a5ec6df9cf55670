"""Test utilities: bounded waits on conditions (never sleep-and-hope) and episode factories."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from collections.abc import Callable

import torch

from vast.common.codec import REJECT_REASONS
from vast.common.config import resolve
from vast.common.episode import Episode
from vast.common.lifecycle import StopFlag
from vast.common.metrics import RoleMetrics
from vast.common.networks import PolicyNet
from vast.common.ports import free_port
from vast.common.rollout import rollout
from vast.common.store import RunStore
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


def scrape(url: str) -> dict[str, float]:
    """Every sample of a Prometheus endpoint, by its full name with labels."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


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


class RoleThread:
    """A real role running on a thread of the test process, its metrics at hand."""

    def __init__(self, role, metrics: RoleMetrics, join_s: float, ready: bool = False):
        self.role, self.metrics, self.join_s = role, metrics, join_s
        self.stop = StopFlag()
        started = threading.Event()
        args = (self.stop, started.set) if ready else (self.stop,)
        self.thread = threading.Thread(target=role.run, args=args, daemon=True)
        self.thread.start()
        assert not ready or started.wait(10)

    def value(self, name, **labels):
        return self.metrics.registry.get_sample_value(name, labels or None) or 0.0

    def close(self):
        self.stop.set()
        self.thread.join(self.join_s)
        assert not self.thread.is_alive()


class RunningReplay(RoleThread):
    """A real ReplayRole serving a real socket from a thread of the test process."""

    def __init__(self, store: RunStore, env_name: str = "gaussian-squeeze-50", port: int = 0, **extra):
        port = port or free_port()
        overrides = {"env.name": env_name, "replay.bind": f"tcp://127.0.0.1:{port}", **extra}
        self.cfg = resolve(None, overrides, environ={})
        self.addr = f"tcp://127.0.0.1:{port}"
        from vast.replay.role import ReplayRole

        metrics = RoleMetrics("replay")
        self.service = ReplayRole(self.cfg, store, metrics, logging.getLogger("test"))
        super().__init__(self.service, metrics, join_s=10, ready=True)

    def close(self):
        super().close()
        # every message ended in exactly one outcome
        answered = sum(
            self.value(f"vast_replay_episodes_{kind}_total") for kind in ("accepted", "duplicate")
        ) + sum(self.value("vast_replay_episodes_rejected_total", reason=r) for r in REJECT_REASONS)
        deferred = sum(
            self.value("vast_replay_episodes_deferred_total", cause=c) for c in ("backlog", "redis")
        )
        assert self.value("vast_replay_episodes_received_total") == answered + deferred
