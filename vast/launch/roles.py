"""Run one role (actor, replay or learner) as this process: logging, signals, metrics endpoint, Redis.

The same entry point serves `vast train`'s child processes, `vast <role>` on a cluster node and
containers: everything a role needs is in the config and reachable by host:port. Roles are started
from the `ROLES` table; each is built as `Role(cfg, store, metrics, log)` and run as `role.run(stop)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from vast.common import logs
from vast.common.config import Config, ConfigError, redact_url
from vast.common.heartbeat import Heartbeat
from vast.common.lifecycle import StopFlag
from vast.common.metrics import RoleMetrics
from vast.common.store import RunStore, connect, with_retry


@dataclass(frozen=True)
class RoleEntry:
    target: str  # "module:Class", imported only when this role runs
    metrics_port: Callable[[Config], int]  # 0 = a free port
    ident: Callable[[Config], str]  # the role's instance id (actors: their id)
    torch_threads: Callable[[Config], int]


ROLES: dict[str, RoleEntry] = {
    "actor": RoleEntry(
        "vast.actors.actor:ActorRole",
        lambda c: c.actor.metrics_port + c.actor.id if c.actor.metrics_port else 0,  # consecutive ports
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
        lambda c: max(1, c.learner.torch_threads),
    ),
}


def _announce(
    store: RunStore,
    role: str,
    ident: str,
    url: str,
    stop: StopFlag,
    log,
    redis_url: str,
    deadline_s: float = 60.0,
) -> bool:
    """Register the metrics URL; Redis may still be starting, so retry with backoff until a deadline.
    False if stopped first; an unreachable Redis is a configuration error (one line, exit code 2)."""
    failures: list[Exception] = []

    def on_error(exc: Exception, wait_s: float) -> None:
        failures.append(exc)
        log.warning(
            "Redis at %s not reachable yet (retrying in %.1fs): %s", redact_url(redis_url), wait_s, exc
        )

    if with_retry(lambda: store.announce(role, ident, url) or True, stop, on_error, 0.5, 5.0, deadline_s):
        return True
    if stop.is_set():
        return False
    raise ConfigError(
        f"cannot reach Redis at {redact_url(redis_url)} within {deadline_s:.0f}s: {failures[-1]}"
    )


def run_role(role: str, cfg: Config) -> int:
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; expected one of {tuple(ROLES)}")
    if not cfg.redis_url:
        raise ConfigError(f"vast {role} needs a Redis server: pass --redis-url redis://HOST:PORT/0")
    if not cfg.run.name:
        cfg.run.name = "default"
    entry = ROLES[role]
    ident = entry.ident(cfg)
    log = logs.setup(f"{role}-{ident}" if role == "actor" else role)
    import torch  # here, not at module level: `vast train` itself never needs torch

    torch.set_num_threads(entry.torch_threads(cfg))
    stop = StopFlag().install_signal_handlers()  # explicitly: a parent may have left SIGINT ignored
    metrics = RoleMetrics(role)
    url = metrics.serve(entry.metrics_port(cfg), addr=cfg.run.metrics_host)
    log.info("metrics at %s", url)
    store = RunStore(
        connect(cfg.redis_url, timeout_s=max(5.0, cfg.learner.read_timeout_s + 2.0)), cfg.run.name
    )
    heartbeat = None
    try:
        if not _announce(store, role, ident, url, stop, log, cfg.redis_url):
            return 0
        heartbeat = Heartbeat(store, role, ident, cfg.run.heartbeat_ttl_s, log).start()
        module, _, cls = entry.target.partition(":")
        getattr(importlib.import_module(module), cls)(cfg, store, metrics, log).run(stop)
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        metrics.close()
    return 0
