"""Weight client: the newest policy weights from the learner's PUB socket, or from Redis.

The SUB socket keeps only the latest message (CONFLATE): an actor needs the newest weights, never a
backlog. Redis holds the latest copy too, for late joiners and for missed broadcasts.
"""

from __future__ import annotations

import numpy as np
import redis
import zmq

from vast.common.codec import CodecError, decode_weights
from vast.common.store import RunStore


class WeightClient:
    def __init__(self, addr: str, store: RunStore):
        self.store = store
        self.sock = zmq.Context.instance().socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.CONFLATE, 1)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(addr)
        self.errors = 0

    def poll(self, timeout_s: float) -> tuple[int, dict[str, np.ndarray]] | None:
        """The latest broadcast received within timeout_s, if any."""
        if not self.sock.poll(int(timeout_s * 1000), zmq.POLLIN):
            return None
        latest = None
        while True:
            try:
                latest = self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
        try:
            return decode_weights(latest) if latest is not None else None
        except CodecError:
            self.errors += 1
            return None

    def fetch(self) -> tuple[int, dict[str, np.ndarray]] | None:
        """The latest copy in Redis (None if no learner has published yet or Redis is unreachable)."""
        try:
            blob = self.store.get_weights()
        except redis.RedisError:
            self.errors += 1
            return None
        if blob is None:
            return None
        try:
            return decode_weights(blob)
        except CodecError:
            self.errors += 1
            return None

    def close(self) -> None:
        self.sock.close(0)
