"""Weight broadcast: Redis first (the durable latest copy for late joiners), then ZeroMQ PUB."""

from __future__ import annotations

import zmq

from vast.common.codec import encode_weights
from vast.common.store import RunStore


class WeightPublisher:
    def __init__(self, bind: str, store: RunStore):
        self.store = store
        self.sock = zmq.Context.instance().socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, 4)
        self.sock.bind(bind)

    def publish(self, version: int, policy_state: dict) -> int:
        blob = encode_weights(version, policy_state)
        self.store.put_weights(blob)
        self.sock.send(blob)
        return len(blob)

    def close(self) -> None:
        self.sock.close(0)
