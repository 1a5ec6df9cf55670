"""The ingest service: receive episodes over ZeroMQ, validate, de-duplicate, store in Redis, then ack.

Accepted = acknowledged = durable in Redis. An episode is acknowledged only after the Redis write
returned; if Redis is down the sender gets no ack and resends later, so nothing acknowledged is lost.
A rejected episode is answered with its reason (so the sender stops resending it) and counted, in this
process's metrics and in the run's durable ledger in Redis (answered only once counted there).

Messages are taken in batches of what is waiting: each is decoded and validated, then the whole batch is
stored and counted in one atomic Redis command (one per shard when the stream is sharded), so an
append-only file fsynced before every reply costs one fsync per batch, not one per episode (group commit).

Replay keeps no state of its own, so several replicas can serve one run: an actor may reach any of them,
and a resend reaching another replica meets the episode's marker in the same Redis shard.

Every message ends in exactly one of: accepted, duplicate, rejected (all three answered) or deferred
(not answered: backlog full or Redis unavailable; the sender resends), so
received = accepted + duplicate + rejected + deferred for this process at every moment.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis
import zmq

from vast.common import protocol
from vast.common.codec import REJECT_REASONS, CodecError, decode_episode
from vast.common.config import Config
from vast.common.episode import Episode
from vast.common.lifecycle import StopFlag
from vast.common.logs import RateLimited
from vast.common.metrics import RoleMetrics
from vast.common.protocol import ACK, DROP_REASONS, DUPLICATE, EPISODE, RETRY, STORED
from vast.common.store import BACKLOG_FULL, RunStore, shard_index
from vast.common.store import STORED as STORED_CODE
from vast.common.transport import close_server, refusal_counter, server_socket

# The ledger's states as gauge labels: rejected and dropped split by reason (rejected_malformed,
# dropped_stale, ...), so accepted = consumed + sum(dropped_*) + buffered.
BATCH_MESSAGES = 256  # at most this many messages...
BATCH_BYTES = 16 * 1024 * 1024  # ...or about this many bytes are stored in one Redis command


@dataclass
class _Message:
    """One received message on its way through `inspect` and `commit`."""

    ident: bytes
    key: bytes
    blob: memoryview | None = None
    reason: str = ""  # why it is rejected ("": it is not)
    detail: str = ""
    episode: Episode | None = None  # valid: to be stored
    redis_error: Exception | None = None
    status: bytes = RETRY


LEDGER_STATES = (
    "accepted",
    "duplicate",
    "consumed",
    "buffered",
    *(f"rejected_{r}" for r in REJECT_REASONS),
    *(f"dropped_{r}" for r in DROP_REASONS),
)


class ReplayRole:
    def __init__(self, cfg: Config, store: RunStore, metrics: RoleMetrics, log: logging.Logger):
        self.cfg = cfg
        self.store = store
        self.log = log
        self.limited = RateLimited(log)
        self.spec = cfg.env.spec()
        m = metrics
        self.received = m.counter("vast_replay_episodes_received_total", "Episode messages received")
        self.accepted = m.counter("vast_replay_episodes_accepted_total", "Episodes stored in Redis and acked")
        self.duplicates = m.counter("vast_replay_episodes_duplicate_total", "Resent episodes already stored")
        self.rejected = m.counter("vast_replay_episodes_rejected_total", "Episodes rejected", ("reason",))
        self.deferred = m.counter(
            "vast_replay_episodes_deferred_total",
            "Messages left unanswered (the sender resends): backlog full or Redis unavailable",
            ("cause",),
        )
        self.redis_errors = m.counter("vast_replay_redis_errors_total", "Failed Redis calls")
        self.refused = refusal_counter(m, "episodes")
        self.bytes_in = m.counter("vast_replay_bytes_received_total", "Bytes of episode messages received")
        self.ledger = m.gauge(
            "vast_ledger_episodes",
            "The run's durable episode ledger in Redis (accepted = consumed + dropped + buffered)",
            ("state",),
        )
        self.store_seconds = m.histogram(
            "vast_replay_store_seconds",
            "Redis write latency",
            (0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 1.0),
        )
        self.max_backlog = m.gauge("vast_replay_max_backlog", "Backlog at which replay stops acking")
        self.max_backlog.set(cfg.replay.max_backlog)
        self.redis_up = m.gauge("vast_redis_up", "1 if this process's last Redis call succeeded, else 0")
        self.progress = m.progress("When replay last completed a Redis round trip (store or housekeeping)")
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)  # export zeros so rates and alerts work from the start
        for cause in ("backlog", "redis"):
            self.deferred.labels(cause)
        self.version_waits = m.counter(
            "vast_replay_version_waits_total",
            "Episodes that arrived before Redis stored the weights they claim (replay waited for them)",
            ("outcome",),
        )
        for outcome in ("stored", "timed_out"):
            self.version_waits.labels(outcome)
        self._published = 0  # newest weights version known to exist (refreshed when an episode claims more)
        self._given_up = -1  # a version waited for in vain: later claims of it are rejected at once

    def _spec_for(self, name: str):
        if name != self.spec.name:
            raise ValueError(f"this run trains {self.spec.name}")
        return self.spec

    def _from_future(self, version: int) -> bool:
        """Whether `version` is newer than every version published so far (one Redis read, and only when
        the episode claims more than the newest version seen).

        The learner broadcasts a version while Redis is still storing it (`learner.publisher`), so an
        episode may claim the version just after the newest stored one: that one waits, at most
        `replay.version_wait_s`, for the copy to be stored."""
        if version > self._published:
            self._published = max(self._published, self.store.published_version())
            if version == self._published + 1 and version != self._given_up:
                self._await_version(version)
        return version > self._published

    def _await_version(self, version: int) -> None:
        end = time.monotonic() + self.cfg.replay.version_wait_s
        pause = 0.0005
        while True:
            self._published = max(self._published, self.store.published_version())
            if self._published >= version:
                self.version_waits.labels("stored").inc()
                return
            if time.monotonic() >= end:
                self._given_up = version
                self.version_waits.labels("timed_out").inc()
                return
            time.sleep(min(pause, max(0.0, end - time.monotonic())))
            pause = min(0.05, pause * 2)

    def inspect(self, frames: list) -> _Message:
        """Decode and validate one message (no Redis call, except the rare check of a version newer than
        any seen): a rejection reason, or an episode to store."""
        self.received.inc()
        ident = frames[0].bytes
        if len(frames) != 4 or frames[1].bytes != EPISODE or len(frames[2].bytes) > protocol.MAX_KEY_BYTES:
            key = frames[2].bytes[: protocol.MAX_KEY_BYTES] if len(frames) > 2 else b"?"
            return _Message(ident, key, reason="malformed", detail=f"envelope of {len(frames)} frames")
        key, blob = frames[2].bytes, frames[3].buffer
        self.bytes_in.inc(len(blob))
        msg = _Message(ident, key, blob=blob)
        try:
            episode = decode_episode(blob, self._spec_for, self.cfg.replay.max_episode_bytes)
        except CodecError as exc:
            msg.reason, msg.detail = exc.reason, str(exc)
            return msg
        header = episode.header
        if header["run"] != self.store.run:
            msg.reason, msg.detail = "bad_header", f"episode belongs to run {header['run']!r}"
        elif episode.key.encode() != key:
            msg.reason, msg.detail = (
                "bad_header",
                f"envelope key {key!r} differs from header key {episode.key!r}",
            )
        else:
            try:
                future = self._from_future(header["policy_version"])
            except redis.RedisError as exc:
                msg.redis_error = exc
                return msg
            if future:
                msg.reason = "future_version"
                msg.detail = (
                    f"claims version {header['policy_version']}, newest published is {self._published}"
                )
            else:
                msg.episode = episode
        return msg

    def commit(self, batch: list[_Message]) -> None:
        """Store the batch's episodes and count its rejections in one atomic Redis command per shard (one
        fsync each), then set each message's status. RETRY (deferred, unanswered) for the messages of a
        shard whose Redis failed. Rejections are counted on shard 0."""
        rejected = [m for m in batch if m.reason]
        groups: dict[int, list[_Message]] = {0: []} if rejected else {}
        for m in batch:
            if m.episode is not None:
                groups.setdefault(shard_index(m.episode.key, len(self.store.shards)), []).append(m)
        for index, episodes in groups.items():
            self._commit_shard(self.store.shards[index], episodes, rejected if index == 0 else [])
        for m in batch:
            if m.redis_error is not None:
                self.redis_errors.inc()
                self.deferred.labels("redis").inc()
                self.limited.warning("redis", "Redis unavailable, message left unanswered: %s", m.redis_error)

    def _commit_shard(self, store: RunStore, episodes: list[_Message], rejected: list[_Message]) -> None:
        start = time.perf_counter()
        try:
            codes = store.record(
                [(m.episode.key, m.episode.header["policy_version"], m.blob) for m in episodes],
                [m.reason for m in rejected],
                self.cfg.replay.dedupe_ttl_s,
                self.cfg.replay.max_backlog,
            )
        except redis.RedisError as exc:
            for m in (*episodes, *rejected):
                m.redis_error = m.redis_error or exc
            self.redis_up.set(0)
            return
        self.store_seconds.observe(time.perf_counter() - start)
        self.redis_up.set(1)
        self.progress.set_to_current_time()
        for m in rejected:
            self.rejected.labels(m.reason).inc()
            self.limited.warning(m.reason, "rejected episode (%s): %s", m.reason, m.detail)
            m.status = protocol.rejected(m.reason)
        for m, code in zip(episodes, codes):
            if code == BACKLOG_FULL:  # the learner is behind: no ack, the sender backs off and resends
                self.deferred.labels("backlog").inc()
            elif code == STORED_CODE:
                self.accepted.inc()
                m.status = STORED
            else:
                self.duplicates.inc()
                m.status = DUPLICATE

    def run(self, stop: StopFlag, ready=None) -> None:
        """Serve until `stop`; `ready` (optional) is called once the socket is bound."""
        sock = server_socket(
            zmq.ROUTER, self.cfg.replay.bind, self.cfg.auth, "episodes", self.refused, self.log, self._limits
        )
        self.log.info("replay listening on %s, storing run %s", self.cfg.replay.bind, self.store.run)
        if ready is not None:
            ready()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        last_depth = 0.0
        try:
            while not stop.is_set():
                if poller.poll(200):
                    self._serve_batch(sock)
                now = time.monotonic()
                if now - last_depth > 1.0:
                    last_depth = now
                    self.export_ledger()
        finally:
            close_server(sock)
            self.log.info("replay stopped (%s)", stop.reason)

    def _limits(self, sock: zmq.Socket) -> None:
        # A message over this size is refused by ZeroMQ itself (the peer is disconnected) before any of
        # it is buffered; below it, the codec's limit rejects (answered and counted) what is too large.
        sock.setsockopt(zmq.MAXMSGSIZE, self.cfg.replay.max_episode_bytes + 4096)

    def export_ledger(self) -> None:
        """Copy the run's durable ledger from Redis into the `vast_ledger_episodes{state}` gauges."""
        try:
            ledger = self.store.run_ledger()
        except redis.RedisError as exc:
            self.redis_errors.inc()
            self.redis_up.set(0)
            self.limited.warning("redis", "Redis unavailable: %s", exc)
            return
        self.redis_up.set(1)  # serving and able to reach Redis: idle counts as progress
        self.progress.set_to_current_time()
        for state in LEDGER_STATES:
            self.ledger.labels(state).set(ledger.get(state.replace("_", ":", 1), 0))

    def _serve_batch(self, sock: zmq.Socket) -> None:
        """Take what is waiting (bounded: a flood cannot starve the stop check), store it in one command,
        then answer every message that got a status."""
        batch: list[_Message] = []
        size = 0
        while len(batch) < BATCH_MESSAGES and size < BATCH_BYTES:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            batch.append(self.inspect(frames))
            size += len(batch[-1].blob) if batch[-1].blob is not None else 0
        self.commit(batch)
        for m in batch:
            if m.status != RETRY:  # RETRY: deferred, no answer (the sender resends)
                sock.send_multipart([m.ident, ACK, m.key, m.status])
