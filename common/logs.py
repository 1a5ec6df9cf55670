"""Logging setup and a rate-limited logger, so a flood of bad input cannot flood the logs."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path


def setup(role: str, level: int = logging.INFO, stream_path: Path | None = None) -> logging.Logger:
    """Log lines prefixed with the role, to stderr or (when a progress display owns the terminal) a file."""
    target = {"stream": sys.stderr}
    if stream_path is not None:
        Path(stream_path).parent.mkdir(parents=True, exist_ok=True)
        target = {"filename": str(stream_path)}
    logging.basicConfig(
        level=level, format=f"%(asctime)s {role} %(levelname)s %(message)s", force=True, **target
    )
    return logging.getLogger(f"vast.{role}")


class RateLimited:
    """Log at most `per_interval` messages per key every `interval_s`; count the rest."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0, per_interval: int = 5):
        self.logger = logger
        self.interval_s = interval_s
        self.per_interval = per_interval
        self._window: dict[str, tuple[float, int]] = {}

    def warning(self, key: str, msg: str, *args) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def error(self, key: str, msg: str, *args) -> bool:
        return self.log(logging.ERROR, key, msg, *args)

    def log(self, level: int, key: str, msg: str, *args) -> bool:
        now = time.monotonic()
        start, count = self._window.get(key, (now, 0))
        if now - start > self.interval_s:
            if count > self.per_interval:
                self.logger.warning("%s: %d more messages suppressed", key, count - self.per_interval)
            start, count = now, 0
        count += 1
        self._window[key] = (start, count)
        if count <= self.per_interval:
            self.logger.log(level, msg, *args)
            return True
        return False
