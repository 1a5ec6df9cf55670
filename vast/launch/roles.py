"""Run one role (actor, replay or learner) as this process: logging, signals, metrics endpoint, Redis.

The same entry point serves `vast train`'s child processes, `vast <role>` on a cluster node and
containers: everything a role needs is in the config and reachable by host:port. Roles are started
from the `ROLES` table; each is built as `Role(cfg, store, metrics, log)` and run as `role.run(stop)`.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from vast.common import logs
from vast.common.config import Config, ConfigError, learner_threads
from vast.common.lifecycle import StopFlag
from vast.common.metrics import RoleMetrics
from vast.common.store import RunStore, connect


@dataclass(frozen=True)
class RoleEntry:
    target: str  # "module:Class", imported only when this role runs
    metrics_port: Callable[[Config], int]  # 0 = a free port
    ident: Callable[[Config], str]  # the role's instance id (actors: their id)
    torch_threads: Callable[[Config], int]


ROLES: dict[str, RoleEntry] = {
    "actor": RoleEntry(
        "vast.actors.actor:ActorRole",
        # consecutive ports for numbered actors on one host; claimed ids (-1) keep the configured port
        lambda c: c.actor.metrics_port + max(c.actor.id, 0) if c.actor.metrics_port else 0,
        lambda c: str(c.actor.id),
        lambda c: 1,
    ),
    "replay": RoleEntry(
        "vast.replay.role:ReplayRole", lambda c: c.replay.metrics_port, lambda c: "0", lambda c: 1
    ),
    "learner": RoleEntry(
        "vast.learner.role:LearnerRole",
        lambda c: c.learner.metrics_port,
        lambda c: "0",
        learner_threads,
    ),
}


def _with_redis(what: str, call: Callable[[], object], stop: StopFlag, log, deadline_s: float = 60.0):
    """`call()` against Redis, which may still be starting: retried with a deadline."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            return call()
        except redis.RedisError as exc:
            if time.monotonic() > end or stop.is_set():
                raise RuntimeError(f"cannot {what}: Redis unreachable: {exc}") from exc
            log.warning("Redis not reachable yet (%s); retrying", exc)
            stop.wait(1.0)


def run_role(role: str, cfg: Config) -> int:
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; expected one of {tuple(ROLES)}")
    if not cfg.redis_url:
        raise ConfigError(f"vast {role} needs a Redis server: pass --redis-url redis://HOST:PORT/0")
    if not cfg.run.name:
        cfg.run.name = "default"
    entry = ROLES[role]
    port = entry.metrics_port(cfg)  # replicas with claimed ids share one port, each in its own network
    stop = StopFlag().install_signal_handlers()
    store = RunStore(
        connect(cfg.redis_url, timeout_s=max(5.0, cfg.learner.read_timeout_s + 2.0)), cfg.run.name
    )
    if role == "actor" and cfg.actor.id == -1:
        cfg.actor.id = _with_redis("claim an actor id", store.claim_actor_id, stop, logs.setup(role))
    ident = entry.ident(cfg)
    log = logs.setup(f"{role}-{ident}" if role == "actor" else role)
    import torch  # here, not at module level: `vast train` itself never needs torch

    torch.set_num_threads(entry.torch_threads(cfg))
    metrics = RoleMetrics(role)
    url = metrics.serve(port, addr="0.0.0.0" if port else "127.0.0.1")
    log.info("metrics at %s", url)
    _with_redis("announce the metrics URL", lambda: store.announce(role, ident, url), stop, log)
    module, _, cls = entry.target.partition(":")
    try:
        getattr(importlib.import_module(module), cls)(cfg, store, metrics, log).run(stop)
    finally:
        metrics.close()
    return 0
