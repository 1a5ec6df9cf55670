"""When to restart a crashed process, and when to give up on it.

A failed process is restarted after an exponential backoff (0.5 s, 1 s, 2 s, ... at most 30 s); a process
that failed more than `max_restarts` times within `window_s` is given up on, and with it the run: a role
that keeps crashing has a cause a restart will not fix (a bad config, a full disk), and the user must see it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

BASE_DELAY_S = 0.5
MAX_DELAY_S = 30.0


@dataclass
class RestartPolicy:
    max_restarts: int
    window_s: float
    failures: dict[str, deque] = field(default_factory=dict)

    def on_failure(self, name: str, now: float) -> float | None:
        """Record a failure of `name` at time `now`; the delay before its restart, or None: give up."""
        times = self.failures.setdefault(name, deque())
        times.append(now)
        while times and now - times[0] > self.window_s:
            times.popleft()
        if len(times) > self.max_restarts:
            return None
        return min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (len(times) - 1))

    def recent(self, name: str) -> int:
        return len(self.failures.get(name, ()))
