"""The ingest service: receive episodes over ZeroMQ, validate, de-duplicate, store in Redis, then ack.

Accepted = acknowledged = durable in Redis. An episode is acknowledged only after the Redis write
returned; if Redis is down the sender gets no ack and resends later, so nothing acknowledged is lost.
A rejected episode is answered with its reason (so the sender stops resending it) and counted, in this
process's metrics and in the run's durable ledger in Redis (answered only once counted there).

Every message ends in exactly one of: accepted, duplicate, rejected (all three answered) or deferred
(not answered: backlog full or Redis unavailable; the sender resends), so
received = accepted + duplicate + rejected + deferred for this process at every moment.
"""

from __future__ import annotations

import logging
import time

import redis
import zmq

from vast.common import protocol
from vast.common.codec import REJECT_REASONS, CodecError, decode_episode
from vast.common.config import Config
from vast.common.lifecycle import StopFlag
from vast.common.logs import RateLimited
from vast.common.metrics import RoleMetrics
from vast.common.protocol import ACK, DROP_REASONS, DUPLICATE, EPISODE, RETRY, STORED
from vast.common.store import BACKLOG_FULL, RunStore
from vast.common.store import STORED as STORED_CODE
from vast.common.transport import close_server, refusal_counter, server_socket

# The ledger's states as gauge labels: rejected and dropped split by reason (rejected_malformed,
# dropped_stale, ...), so accepted = consumed + sum(dropped_*) + buffered.
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
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)  # export zeros so rates and alerts work from the start
        for cause in ("backlog", "redis"):
            self.deferred.labels(cause)
        self._published = 0  # newest weights version known to exist (refreshed when an episode claims more)

    def _spec_for(self, name: str):
        if name != self.spec.name:
            raise ValueError(f"this run trains {self.spec.name}")
        return self.spec

    def _reject(self, reason: str, msg: str, *args) -> bytes:
        """Count the rejection durably first: unanswered (the sender retries) if Redis is down."""
        try:
            self.store.count_rejected(reason)
        except redis.RedisError as exc:
            return self._redis_down(exc)
        self.rejected.labels(reason).inc()
        self.limited.warning(reason, "rejected episode (%s): " + msg, reason, *args)
        return protocol.rejected(reason)

    def _redis_down(self, exc: Exception) -> bytes:
        self.redis_errors.inc()
        self.deferred.labels("redis").inc()
        self.limited.warning("redis", "Redis unavailable, message left unanswered: %s", exc)
        return RETRY

    def _from_future(self, version: int) -> bool:
        """Whether `version` is newer than every version published so far (one Redis read, and only when
        the episode claims more than the newest version seen)."""
        if version > self._published:
            self._published = max(self._published, self.store.published_version())
        return version > self._published

    def handle(self, claimed_key: bytes, blob: bytes | memoryview) -> bytes:
        """Process one episode message; returns the status to acknowledge it with (RETRY: no answer)."""
        self.received.inc()
        self.bytes_in.inc(len(blob))
        try:
            episode = decode_episode(blob, self._spec_for, self.cfg.replay.max_episode_bytes)
        except CodecError as exc:
            return self._reject(exc.reason, "%s", exc)
        if episode.header["run"] != self.store.run:
            return self._reject("bad_header", "episode belongs to run %r", episode.header["run"])
        key = episode.key
        if key.encode() != claimed_key:
            return self._reject("bad_header", "envelope key %r differs from header key %r", claimed_key, key)
        try:
            future = self._from_future(episode.header["policy_version"])
        except redis.RedisError as exc:
            return self._redis_down(exc)
        if future:
            return self._reject(
                "future_version",
                "episode %s claims version %d, newest published is %d",
                key,
                episode.header["policy_version"],
                self._published,
            )
        start = time.perf_counter()
        try:
            stored = self.store.append_episode(
                key,
                episode.header["policy_version"],
                blob,
                self.cfg.replay.dedupe_ttl_s,
                self.cfg.replay.max_backlog,
            )
        except redis.RedisError as exc:
            return self._redis_down(exc)
        self.store_seconds.observe(time.perf_counter() - start)
        if stored == BACKLOG_FULL:  # the learner is behind: no ack, the sender backs off and resends
            self.deferred.labels("backlog").inc()
            return RETRY
        if stored == STORED_CODE:
            self.accepted.inc()
            return STORED
        self.duplicates.inc()
        return DUPLICATE

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
                    for _ in range(256):  # bounded drain: a flood cannot starve the stop check
                        try:
                            frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self._on_frames(sock, frames)
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
            ledger = self.store.ledger()
        except redis.RedisError as exc:
            self.redis_errors.inc()
            self.limited.warning("redis", "Redis unavailable: %s", exc)
            return
        for state in LEDGER_STATES:
            self.ledger.labels(state).set(ledger.get(state.replace("_", ":", 1), 0))

    def _on_frames(self, sock: zmq.Socket, frames: list) -> None:
        ident = frames[0].bytes
        if len(frames) != 4 or frames[1].bytes != EPISODE or len(frames[2].bytes) > protocol.MAX_KEY_BYTES:
            self.received.inc()
            key = frames[2].bytes[: protocol.MAX_KEY_BYTES] if len(frames) > 2 else b"?"
            status = self._reject("malformed", "envelope of %d frames", len(frames))
        else:
            key = frames[2].bytes
            status = self.handle(key, frames[3].buffer)
        if status != RETRY:  # RETRY: deferred, no answer (the sender resends)
            sock.send_multipart([ident, ACK, key, status])
