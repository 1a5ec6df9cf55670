"""Weight broadcast: the latest copy goes to Redis (for late joiners, missed broadcasts, and the version
replay checks episodes against) and out over ZeroMQ PUB.

The Redis write is sent first and the broadcast goes out before its reply is read: actors start playing
while Redis stores (and, with `appendfsync always`, fsyncs) the copy, which takes milliseconds off each
sync cycle's critical path (docs/performance.md). `publish` returns only once Redis confirmed the copy,
so the learner never broadcasts a version while the previous one is unconfirmed: an episode can claim
at most one version more than Redis holds, and replay waits for that one (`replay.version_wait_s`). If
the write cannot even be sent (Redis unavailable), publishing waits with backoff until the copy is
stored and only then broadcasts: the learner could read no episodes meanwhile anyway. If the write was
sent but its reply is lost, the copy is stored again until Redis confirms it.

Every publication carries this learner process's epoch (its start time in ms): a learner restarted from a
checkpoint publishes older version numbers under a newer epoch, and actors follow it back
(`vast.common.protocol.newer_weights`).
"""

from __future__ import annotations

import logging
import time

import redis
import zmq

from vast.common.codec import encode_weights
from vast.common.config import AuthConfig
from vast.common.lifecycle import StopFlag
from vast.common.logs import RateLimited
from vast.common.store import RunStore, with_retry
from vast.common.transport import close_server, server_socket


class WeightPublisher:
    def __init__(
        self,
        bind: str,
        store: RunStore,
        auth: AuthConfig | None = None,
        refused=None,
        log: logging.Logger | None = None,
        redis_errors=None,
    ):
        self.store = store
        self.log = log or logging.getLogger("vast.learner")
        self.limited = RateLimited(self.log)
        self.redis_errors = redis_errors
        self.epoch = time.time_ns() // 1_000_000
        self.stop = StopFlag()  # the role's stop flag (set by LearnerRole.run): retries end with it
        self.sock = server_socket(
            zmq.PUB,
            bind,
            auth or AuthConfig(),
            "weights",
            refused,
            self.log,
            configure=lambda s: s.setsockopt(zmq.SNDHWM, 4),
        )

    def publish(self, version: int, policy_state: dict) -> int:
        blob = encode_weights(version, policy_state, self.epoch)

        def on_error(exc: Exception, wait_s: float) -> None:
            if self.redis_errors is not None:
                self.redis_errors.inc()
            self.limited.warning(
                "redis", "storing weights v%d failed (retrying in %.1fs): %s", version, wait_s, exc
            )

        confirm = None
        try:
            confirm = self.store.send_weights(version, blob)
        except redis.RedisError as exc:  # Redis unavailable: store first, broadcast after
            on_error(exc, 0.0)
        if confirm is not None:
            self.sock.send(blob)  # actors start playing while Redis stores the copy
            try:
                return confirm()
            except redis.RedisError as exc:  # the reply was lost: store the copy again
                on_error(exc, 0.0)
        if with_retry(lambda: self.store.put_weights(version, blob), self.stop, on_error) is None:
            return 0  # stopped during a Redis outage (if not broadcast yet, nothing is announced)
        if confirm is None:
            self.sock.send(blob)
        return len(blob)

    def close(self) -> None:
        close_server(self.sock)
