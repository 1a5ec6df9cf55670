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
from vast.common.config import Config, ConfigError, learner_threads, redact_url
from vast.common.heartbeat import Heartbeat
from vast.common.lifecycle import StopFlag
from vast.common.metrics import RoleMetrics
from vast.common.store import RunStore, connect, with_retry

ANNOUNCE_DEADLINE_S = 60.0  # how long a role waits for Redis at start before calling it a config error


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
        "vast.replay.role:ReplayRole",
        lambda c: c.replay.metrics_port,
        lambda c: str(c.replay.id),
        lambda c: 1,
    ),
    "learner": RoleEntry(
        "vast.learner.role:LearnerRole",
        lambda c: c.learner.metrics_port,
        lambda c: "0",
        learner_threads,
    ),
}


def _redis_or_config_error(what: str, call: Callable[[], object], stop: StopFlag, log, redis_url: str):
    """`call()` against Redis, which may still be starting: retried with backoff for up to a minute.
    None if stopped first; an unreachable Redis is a configuration error (one line, exit code 2)."""
    failures: list[Exception] = []

    def on_error(exc: Exception, wait_s: float) -> None:
        failures.append(exc)
        log.warning(
            "Redis at %s not reachable yet (retrying in %.1fs): %s", redact_url(redis_url), wait_s, exc
        )

    result = with_retry(call, stop, on_error, 0.5, 5.0, ANNOUNCE_DEADLINE_S)
    if result is not None or stop.is_set():
        return result
    raise ConfigError(
        f"cannot reach Redis at {redact_url(redis_url)} within {ANNOUNCE_DEADLINE_S:.0f}s "
        f"(to {what}): {failures[-1]}"
    )


def run_role(role: str, cfg: Config) -> int:
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; expected one of {tuple(ROLES)}")
    if not cfg.redis_url:
        raise ConfigError(f"vast {role} needs a Redis server: pass --redis-url redis://HOST:PORT/0")
    if not cfg.run.name:
        cfg.run.name = "default"
    entry = ROLES[role]
    port = entry.metrics_port(cfg)  # replicas with claimed ids share one port, each in its own network
    stop = StopFlag().install_signal_handlers()  # explicitly: a parent may have left SIGINT ignored
    timeout_s = max(5.0, cfg.learner.read_timeout_s + 2.0)
    store = RunStore(connect(cfg.redis_url, timeout_s=timeout_s), cfg.run.name).add_shards(
        [connect(url, timeout_s=timeout_s) for url in cfg.shard_urls()]
    )
    if role == "actor" and cfg.actor.id == -1:  # compose/k8s replicas: claim the next free id
        claimed = _redis_or_config_error(
            "claim an actor id", store.claim_actor_id, stop, logs.setup(role), cfg.redis_url
        )
        if claimed is None:
            return 0
        cfg.actor.id = claimed
    ident = entry.ident(cfg)
    log = logs.setup(f"{role}-{ident}" if role == "actor" else role)
    import torch  # here, not at module level: `vast train` itself never needs torch

    torch.set_num_threads(entry.torch_threads(cfg))
    metrics = RoleMetrics(role)
    url = metrics.serve(port, addr=cfg.run.metrics_host)
    log.info("metrics at %s", url)
    heartbeat = None
    try:
        announce = lambda: store.announce(role, ident, url) or True  # noqa: E731
        if not _redis_or_config_error("announce the metrics URL", announce, stop, log, cfg.redis_url):
            return 0
        heartbeat = Heartbeat(store, role, ident, cfg.run.heartbeat_ttl_s, log).start()
        module, _, cls = entry.target.partition(":")
        getattr(importlib.import_module(module), cls)(cfg, store, metrics, log).run(stop)
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        metrics.close()
    return 0
