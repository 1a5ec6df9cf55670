"""Run one role (actor, replay or learner) as a process: logging, signals, metrics endpoint, Redis.

The same entry point serves `vast train`'s child processes, `vast <role>` on a cluster node and
containers: everything a role needs is in the config and reachable by host:port.
"""

from __future__ import annotations

import time
from pathlib import Path

import redis

from common import logs
from common.config import Config, ConfigError
from common.lifecycle import StopFlag
from common.metrics import RoleMetrics
from common.store import RunStore, connect

ROLES = ("actor", "replay", "learner")


def run_dir_of(cfg: Config) -> Path:
    return Path(cfg.run.dir) / cfg.run.name


def _announce(
    store: RunStore, role: str, ident: str, url: str, stop: StopFlag, log, deadline_s: float = 60.0
) -> None:
    """Register the metrics URL; Redis may still be starting, so retry with a deadline."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            store.announce(role, ident, url)
            return
        except redis.RedisError as exc:
            if time.monotonic() > end or stop.is_set():
                raise RuntimeError(f"cannot reach Redis at {store.r}: {exc}") from exc
            log.warning("Redis not reachable yet (%s); retrying", exc)
            stop.wait(1.0)


def run_role(role: str, cfg: Config) -> int:
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; expected one of {ROLES}")
    if not cfg.redis_url:
        raise ConfigError(f"vast {role} needs a Redis server: pass --redis-url redis://HOST:PORT/0")
    if not cfg.run.name:
        cfg.run.name = "default"
    ident = str(cfg.actor.id) if role == "actor" else "0"
    log = logs.setup(f"{role}-{ident}" if role == "actor" else role)
    import torch  # here, not at module level: `vast train` itself never needs torch

    torch.set_num_threads(max(1, cfg.learner.torch_threads) if role == "learner" else 1)
    stop = StopFlag().install_signal_handlers()
    metrics = RoleMetrics(role)
    port = {
        "actor": cfg.actor.metrics_port,
        "replay": cfg.replay.metrics_port,
        "learner": cfg.learner.metrics_port,
    }[role]
    if role == "actor" and port:
        port += cfg.actor.id  # one host, many actors: consecutive ports
    url = metrics.serve(port, addr="0.0.0.0" if port else "127.0.0.1")
    log.info("metrics at %s", url)
    store = RunStore(
        connect(cfg.redis_url, timeout_s=max(5.0, cfg.learner.read_timeout_s + 2.0)), cfg.run.name
    )
    _announce(store, role, ident, url, stop, log)
    try:
        if role == "replay":
            from replay.service import ReplayService

            ReplayService(cfg, store, metrics, log).serve(stop)
        elif role == "actor":
            from actors.actor import ActorRole

            ActorRole(cfg, store, metrics, log).run(stop)
        else:
            from learner.service import LearnerRole

            run_dir = run_dir_of(cfg)
            run_dir.mkdir(parents=True, exist_ok=True)
            if not (run_dir / "config.json").exists():
                cfg.save(run_dir / "config.json")
            LearnerRole(cfg, store, metrics, log, run_dir).run(stop)
    finally:
        metrics.close()
    return 0
