"""Episodes from the run's Redis stream, read through a consumer group: the distributed learner's source.

Entries are acknowledged (XACK + XDEL) only after the update that used them; a learner restarted after a
crash first re-reads, once, the entries delivered to it but never acknowledged. Episodes the learner may
not use (see `vast.common.protocol.drop_reason`) are acknowledged at once and counted by reason.
"""

from __future__ import annotations

import logging
import time

import redis

from vast.common import protocol
from vast.common.codec import CodecError, decode_episode
from vast.common.config import Config
from vast.common.episode import Episode
from vast.common.lifecycle import StopFlag
from vast.common.logs import RateLimited
from vast.common.store import RunStore
from vast.envs.base import EnvSpec
from vast.learner.telemetry import LearnerMetrics

CONSUMER = "learner-0"


class RedisEpisodeSource:
    def __init__(
        self, cfg: Config, spec: EnvSpec, store: RunStore, metrics: LearnerMetrics, log: logging.Logger
    ):
        self.cfg = cfg
        self.spec = spec
        self.store = store
        self.m = metrics
        self.limited = RateLimited(log)
        self._dropped: dict[str, int] = {}
        self._pending_cursor: bytes | str | None = "0"  # first re-read entries delivered but never acked
        self.store.ensure_group()

    def dropped(self) -> dict[str, int]:
        return dict(self._dropped)

    def _drop(self, reason: str) -> None:
        self.m.dropped.labels(reason).inc()
        self._dropped[reason] = self._dropped.get(reason, 0) + 1

    def _spec_for(self, name: str) -> EnvSpec:
        if name != self.spec.name:
            raise ValueError(f"this run trains {self.spec.name}")
        return self.spec

    def collect(
        self, version: int, need: int, stop: StopFlag, deadline: float
    ) -> list[tuple[bytes, Episode]] | None:
        """Exactly `need` usable episodes (sorted by slot in sync mode), or None if stopped first."""
        learner = self.cfg.learner
        kept: dict = {}
        block_ms = int(learner.read_timeout_s * 1000)
        started = time.perf_counter()
        while len(kept) < need:
            if stop.is_set() or time.monotonic() > deadline:
                return None
            try:
                entries = self.store.read_episodes(CONSUMER, need - len(kept), block_ms, self._pending_cursor)
            except redis.RedisError as exc:
                self.m.redis_errors.inc()
                self.m.redis_up.set(0)
                self.limited.warning("redis", "Redis read failed (will retry): %s", exc)
                stop.wait(1.0)
                continue
            self.m.redis_up.set(1)
            self.m.progress.set_to_current_time()  # waiting for data with Redis reachable is progress
            if self._pending_cursor is not None:  # recovering what a crashed learner had read but not acked
                if not entries:
                    self._pending_cursor = None
                    continue
                self._pending_cursor = entries[-1][0]
                self.m.recovered.inc(len(entries))
            dropped = []
            for entry_id, blob in entries:
                try:
                    ep = decode_episode(blob, self._spec_for, self.cfg.replay.max_episode_bytes)
                except CodecError as exc:
                    self._drop("invalid")
                    self.limited.warning("invalid", "dropping invalid stored episode: %s", exc)
                    dropped.append(entry_id)
                    continue
                reason = protocol.drop_reason(
                    ep.header,
                    mode=learner.mode,
                    learner_version=version,
                    taken_slots=kept,
                    episodes_per_update=learner.episodes_per_update,
                    max_policy_lag=learner.max_policy_lag,
                )
                if reason is not None:
                    self._drop(reason)
                    dropped.append(entry_id)
                    continue
                key = ep.header["slot"] if learner.mode == "sync" else len(kept)
                kept[key] = (entry_id, ep)
            if dropped:
                self.store.ack(dropped)
        self.m.wait_seconds.inc(time.perf_counter() - started)
        return [kept[k] for k in sorted(kept)]

    def ack(self, handles: list[bytes]) -> None:
        self.store.ack(handles)
        try:
            self.store.heartbeat("learner", "0")
        except redis.RedisError:
            self.m.redis_errors.inc()
