"""Weight broadcast: Redis first (the durable latest copy for late joiners, and the version replay checks
episodes against), then ZeroMQ PUB.

Every publication carries this learner process's epoch (its start time in ms): a learner restarted from a
checkpoint publishes older version numbers under a newer epoch, and actors follow it back
(`vast.common.protocol.newer_weights`). While Redis is unavailable, publishing waits (with backoff) until
the copy is stored: the learner could read no episodes meanwhile anyway, and an actor or replay must never
see a version that Redis does not know.
"""

from __future__ import annotations

import logging
import time

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

        if with_retry(lambda: self.store.put_weights(version, blob), self.stop, on_error) is None:
            return 0  # stopped during a Redis outage: nothing is announced that Redis does not hold
        self.sock.send(blob)
        return len(blob)

    def close(self) -> None:
        close_server(self.sock)
