"""The ingest service: receive episodes over ZeroMQ, validate, de-duplicate, store in Redis, then ack.

Accepted = acknowledged = durable in Redis. An episode is acknowledged only after the Redis write
returned; if Redis is down the sender gets no ack and resends later, so nothing acknowledged is lost.
A rejected episode is answered with its reason (so the sender stops resending it) and counted.
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
from vast.common.protocol import ACK, DUPLICATE, EPISODE, RETRY, STORED
from vast.common.store import BACKLOG_FULL, RunStore
from vast.common.store import STORED as STORED_CODE


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
        self.backpressure = m.counter(
            "vast_replay_backpressure_total", "Episodes not acked because the Redis backlog was full"
        )
        self.redis_errors = m.counter(
            "vast_replay_redis_errors_total", "Failed Redis writes (episode not acked)"
        )
        self.bytes_in = m.counter("vast_replay_bytes_received_total", "Bytes of episode messages received")
        self.depth = m.gauge("vast_buffer_depth", "Episodes in the Redis stream not yet consumed")
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

    def _spec_for(self, name: str):
        if name != self.spec.name:
            raise ValueError(f"this run trains {self.spec.name}")
        return self.spec

    def _reject(self, reason: str, msg: str, *args) -> bytes:
        self.rejected.labels(reason).inc()
        self.limited.warning(reason, "rejected episode (%s): " + msg, reason, *args)
        return protocol.rejected(reason)

    def handle(self, claimed_key: bytes, blob: bytes | memoryview) -> bytes:
        """Process one episode message; returns the status to acknowledge it with."""
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
            self.redis_errors.inc()
            self.redis_up.set(0)
            self.limited.warning("redis", "Redis write failed, episode %s not acked: %s", key, exc)
            return RETRY
        self.store_seconds.observe(time.perf_counter() - start)
        if stored == BACKLOG_FULL:  # the learner is behind: no ack, the sender backs off and resends
            self.backpressure.inc()
            return RETRY
        if stored == STORED_CODE:
            self.accepted.inc()
            return STORED
        self.duplicates.inc()
        return DUPLICATE

    def run(self, stop: StopFlag, ready=None) -> None:
        """Serve until `stop`; `ready` (optional) is called once the socket is bound."""
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, self.cfg.replay.max_episode_bytes + 4096)
        sock.bind(self.cfg.replay.bind)
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
                    try:
                        self.depth.set(self.store.depth())
                        self.store.heartbeat("replay", "0")
                    except redis.RedisError as exc:
                        self.redis_errors.inc()
                        self.redis_up.set(0)
                        self.limited.warning("redis", "Redis unavailable: %s", exc)
                    else:  # serving and able to store: idle counts as progress
                        self.redis_up.set(1)
                        self.progress.set_to_current_time()
        finally:
            sock.close(0)
            self.log.info("replay stopped (%s)", stop.reason)

    def _on_frames(self, sock: zmq.Socket, frames: list) -> None:
        ident = frames[0].bytes
        if len(frames) != 4 or frames[1].bytes != EPISODE or len(frames[2].bytes) > protocol.MAX_KEY_BYTES:
            self.received.inc()
            key = frames[2].bytes[: protocol.MAX_KEY_BYTES] if len(frames) > 2 else b"?"
            sock.send_multipart(
                [ident, ACK, key, self._reject("malformed", "envelope of %d frames", len(frames))]
            )
            return
        key = frames[2].bytes
        status = self.handle(key, frames[3].buffer)
        if status != RETRY:
            sock.send_multipart([ident, ACK, key, status])
