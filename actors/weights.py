"""Weight client: the newest policy weights from the learner's PUB socket, or from Redis.

The SUB socket keeps only the latest message (CONFLATE): an actor needs the newest weights, never a
backlog. Redis holds the latest copy too, for late joiners and for missed broadcasts.
"""

from __future__ import annotations

import redis
import zmq

from vast.common.codec import CodecError, Weights, decode_weights
from vast.common.config import AuthConfig
from vast.common.store import RunStore
from vast.common.transport import client_socket


def _newest_only(sock: zmq.Socket) -> None:
    sock.setsockopt(zmq.CONFLATE, 1)
    sock.setsockopt(zmq.SUBSCRIBE, b"")


class WeightClient:
    def __init__(self, addr: str, store: RunStore, auth: AuthConfig | None = None):
        self.store = store
        self.sock = client_socket(zmq.SUB, addr, auth or AuthConfig(), configure=_newest_only)
        self.errors = 0

    def poll(self, timeout_s: float) -> Weights | None:
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

    def fetch(self) -> Weights | None:
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
