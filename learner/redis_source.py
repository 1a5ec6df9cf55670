"""Episodes from the run's Redis stream, read through a consumer group: the distributed learner's source.

Entries are settled (XACK + XDEL + ledger count, one atomic script) only after the update that used them,
so an accepted episode is trained on (or dropped, counted) exactly once per learner lifetime and at least
once across restarts: a restarted learner first re-reads the entries delivered to it but never settled.
Episodes the learner may not use (`vast.common.protocol.drop_reason`) are settled at once as dropped.

Redis may restart or become unreachable at any moment: every call is retried with backoff, a read whose
reply was lost is recovered from the pending list, and the consumer group is re-created if Redis lost it.
In sync mode, work-slot groups still missing are re-issued to any actor (`protocol.groups_to_reissue`), so
the learner never waits forever for a dead actor; a long wait is reported (log + metric).

A sharded stream (`redis_shards`) is read shard by shard: first every shard without blocking, then, only
if none had anything, one bounded blocking read of the next shard in turn. A shard that fails is backed
off on its own while the others keep feeding the learner.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

from vast.common import protocol
from vast.common.codec import CodecError, decode_episode
from vast.common.config import Config
from vast.common.episode import Episode
from vast.common.lifecycle import StopFlag
from vast.common.logs import RateLimited
from vast.common.store import RunStore, shard_index, with_retry
from vast.envs.base import EnvSpec
from vast.learner.telemetry import LearnerMetrics

CONSUMER = "learner-0"
Handle = tuple[bytes, str]  # (stream entry id, episode key): the key names the shard


class _ShardReader:
    """The consumer-group reading of one shard: its recovery cursor, its group, its backoff."""

    def __init__(self, store: RunStore):
        self.store = store
        self.cursor: bytes | str | None = "0"  # first re-read entries delivered but never settled
        self.group_ready = False
        self.retry_at = 0.0  # after a failure: not read again before this (monotonic) time
        self.wait_s = 0.2

    def read(self, count: int, block_ms: int | None) -> tuple[list[tuple[bytes, bytes, str]], bool]:
        """(entries, whether they are recovered ones); block_ms None: do not block."""
        if not self.group_ready:
            self.store.ensure_group()
            self.group_ready = True
        try:
            while self.cursor is not None:  # recovering entries delivered but never settled
                entries = self.store.read_episodes(CONSUMER, count, 0, self.cursor)
                if entries:
                    self.cursor = entries[-1][0]
                    return entries, True
                self.cursor = None
            return self.store.read_episodes(CONSUMER, count, block_ms), False
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):  # Redis came back without our data (no persistence): start over
                self.group_ready = False
            raise

    def failed(self) -> None:
        """A read whose reply was lost delivered entries: take them back, after a growing pause."""
        self.cursor = "0"
        self.retry_at = time.monotonic() + self.wait_s
        self.wait_s = min(5.0, self.wait_s * 2)


class RedisEpisodeSource:
    def __init__(
        self,
        cfg: Config,
        spec: EnvSpec,
        store: RunStore,
        metrics: LearnerMetrics,
        log: logging.Logger,
        epoch: int = 0,
    ):
        self.cfg = cfg
        self.spec = spec
        self.store = store
        self.m = metrics
        self.log = log
        self.limited = RateLimited(log)
        self.epoch = epoch  # the publisher's epoch: re-issued slots name it
        self.stop = StopFlag()  # the role's stop flag (set by LearnerRole.run): retries end with it
        self._dropped: dict[str, int] = {}
        self._readers = [_ShardReader(shard) for shard in store.shards]
        self._turn = 0  # the shard the next blocking read waits on
        self._reissued: tuple[int, list[int]] = (-1, [])
        for reader in self._readers:
            try:  # now if Redis is up (episodes stored from here on are ours), else on the first read
                reader.store.ensure_group()
                reader.group_ready = True
            except redis.RedisError as exc:
                self.limited.warning("redis", "Redis unavailable at start (will retry): %s", exc)

    # -- checkpointed state --------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"dropped": dict(self._dropped)}

    def restore(self, state: dict[str, Any]) -> None:
        self._dropped = dict(state.get("dropped", {}))

    def dropped(self) -> dict[str, int]:
        return dict(self._dropped)

    # -- Redis with retries ---------------------------------------------------------------------------
    def _retry(self, call, what: str):
        def on_error(exc: Exception, wait_s: float) -> None:
            self.m.redis_errors.inc()
            self.limited.warning("redis", "Redis %s failed (retrying in %.1fs): %s", what, wait_s, exc)

        return with_retry(call, self.stop, on_error)

    def _settle(self, handles: list[Handle], outcome: str) -> bool:
        """Settle with retries; False if stopped first (the entries stay pending for the next learner)."""
        if not handles:
            return True
        return self._retry(lambda: self.store.settle_sharded(handles, outcome), "settle") is not None

    def _read(self, count: int, block_ms: int, stop: StopFlag, held: set) -> list[tuple[bytes, bytes, str]]:
        """Up to `count` entries from the shards: recovered ones first, new ones without blocking, and
        only if no shard had any, one read blocking at most `block_ms` / shards on the next shard in turn."""
        ready = [r for r in self._readers if r.retry_at <= time.monotonic()]
        if not ready:  # every shard failed a moment ago: wait for the first one's retry
            stop.wait(max(0.0, min(r.retry_at for r in self._readers) - time.monotonic()))
            return []
        out: list[tuple[bytes, bytes, str]] = []
        for reader in ready:
            if len(out) < count:
                out += self._read_one(reader, count - len(out), None, held)
        if not out:
            reader = ready[self._turn % len(ready)]
            self._turn += 1
            out = self._read_one(reader, count, max(1, block_ms // len(self._readers)), held)
        return out

    def _read_one(self, reader: _ShardReader, count: int, block_ms: int | None, held: set) -> list:
        """One shard's entries, less those already held (a recovery after a failed read repeats them)."""
        try:
            entries, recovered = reader.read(count, block_ms)
        except redis.RedisError as exc:
            self.m.redis_errors.inc()
            self.m.redis_up.set(0)
            self.limited.warning("redis", "Redis read failed (retrying in %.1fs): %s", reader.wait_s, exc)
            reader.failed()
            return []
        reader.wait_s = 0.2
        self.m.redis_up.set(1)
        self.m.progress.set_to_current_time()  # waiting for data with Redis reachable is progress
        if recovered:
            shards = len(self._readers)
            entries = [e for e in entries if (e[0], shard_index(e[2], shards)) not in held]
            self.m.recovered.inc(len(entries))
        return entries

    # -- EpisodeSource -----------------------------------------------------------------------------------
    def collect(
        self, version: int, need: int, stop: StopFlag, deadline: float
    ) -> list[tuple[Handle, Episode]] | None:
        """Exactly `need` usable episodes (sorted by slot in sync mode), or None if stopped first."""
        learner = self.cfg.learner
        kept: dict[int, tuple[Handle, Episode]] = {}
        held: set[tuple[bytes, int]] = set()  # (entry id, shard) of the entries in `kept`
        block_ms = int(learner.read_timeout_s * 1000)
        started = time.monotonic()
        shards = len(self._readers)
        last_watch = started
        while len(kept) < need:
            now = time.monotonic()
            if stop.is_set() or now > deadline:
                self.m.input_wait.set(0)
                return None
            if now - last_watch >= 1.0:
                last_watch = now
                self._watch(version, kept, now - started)
            entries = self._read(need - len(kept), block_ms, stop, held)
            drops: dict[str, list[Handle]] = {}
            for entry_id, blob, key in entries:
                reason = None
                try:
                    ep = decode_episode(blob, self._spec_for, self.cfg.replay.max_episode_bytes)
                except CodecError as exc:
                    reason = "invalid"
                    self.limited.warning("invalid", "dropping invalid stored episode: %s", exc)
                else:
                    reason = protocol.drop_reason(
                        ep.header,
                        mode=learner.mode,
                        learner_version=version,
                        taken_slots=kept,
                        episodes_per_update=learner.episodes_per_update,
                        max_policy_lag=learner.max_policy_lag,
                    )
                if reason is not None:
                    drops.setdefault(reason, []).append((entry_id, key))
                    continue
                slot = ep.header["slot"] if learner.mode == "sync" else len(kept)
                kept[slot] = ((entry_id, key), ep)
                held.add((entry_id, shard_index(key, shards)))
            for reason, handles in drops.items():
                if not self._settle(handles, f"dropped:{reason}"):
                    return None
                self.m.dropped.labels(reason).inc(len(handles))
                self._dropped[reason] = self._dropped.get(reason, 0) + len(handles)
        self.m.wait_seconds.inc(time.monotonic() - started)
        self.m.input_wait.set(0)
        return [kept[k] for k in sorted(kept)]

    def ack(self, handles: list[Handle]) -> None:
        """Settle the episodes of a finished update as consumed (retried until done or stopped)."""
        self._settle(handles, "consumed")

    # -- waiting: stall reports and the sync take-over ---------------------------------------------------
    def _watch(self, version: int, kept: dict, waited_s: float) -> None:
        learner = self.cfg.learner
        self.m.input_wait.set(waited_s)
        if waited_s >= learner.stall_warn_s:
            self.limited.warning(
                "stall",
                "input stalled: %d of %d episodes of version %d after %.0fs",
                len(kept),
                learner.episodes_per_update,
                version,
                waited_s,
            )
        if learner.mode != "sync":
            return
        missing = protocol.missing_groups(kept, self.cfg.actors, learner.episodes_per_update)
        try:
            alive = {int(a) for a in self.store.alive("actor", [str(g) for g in missing])}
            started = {int(k.split(":")[1]) for k in self.store.endpoints() if k.startswith("actor:")}
            groups = protocol.groups_to_reissue(missing, started, alive, waited_s, learner.slot_timeout_s)
            if not groups or self._reissued == (version, groups):
                return
            self.store.reissue(self.epoch, version, groups)
        except redis.RedisError as exc:
            self.m.redis_errors.inc()
            self.limited.warning("redis", "Redis unavailable while re-issuing work slots: %s", exc)
            return
        fresh = set(groups) - (set(self._reissued[1]) if self._reissued[0] == version else set())
        self._reissued = (version, groups)
        self.m.reissued.inc(len(fresh))
        self.log.warning(
            "version %d: re-issued work-slot groups %s to any actor (no heartbeat from %s after %.0fs)",
            version,
            groups,
            sorted(set(groups) - alive) or "-",
            waited_s,
        )

    def _spec_for(self, name: str) -> EnvSpec:
        if name != self.spec.name:
            raise ValueError(f"this run trains {self.spec.name}")
        return self.spec
