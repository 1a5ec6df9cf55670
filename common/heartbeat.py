"""Liveness in Redis: a background thread refreshes a role's heartbeat key (a TTL key) five times per
TTL, so the key exists exactly while the process runs and can reach Redis. The learner reads actors'
heartbeats to decide whose sync work slots to hand to someone else; operators read them to see who is up.

A thread, not the role's loop: a long rollout or update must not make a live process look dead.
"""

from __future__ import annotations

import logging
import threading

import redis

from vast.common.logs import RateLimited
from vast.common.store import RunStore


class Heartbeat:
    def __init__(self, store: RunStore, role: str, ident: str, ttl_s: float, log: logging.Logger):
        self.store = store
        self.role = role
        self.ident = ident
        self.ttl_s = ttl_s
        self.limited = RateLimited(log)
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{role}-{ident}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.store.heartbeat(self.role, self.ident, self.ttl_s)
            except redis.RedisError as exc:  # Redis restarting or unreachable: keep trying
                self.failures += 1
                self.limited.warning("heartbeat", "heartbeat to Redis failed (retrying): %s", exc)
            self._stop.wait(self.ttl_s / 5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
