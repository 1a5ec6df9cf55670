"""Free TCP ports for servers on loopback that are picked before the server binds (the launcher hands
the replay and weight addresses to every role up front; the embedded Redis restarts on its old port).

A port taken from the kernel's ephemeral range (`bind(("127.0.0.1", 0))`) can be handed out again, between
the pick and the server's bind, to any outgoing connection or any `bind(0)` on the machine: a Redis
client's socket, another role's metrics server, even a ZeroMQ client that reconnects to the port while
nothing listens there (a TCP self-connect). The server then fails with "Address already in use" on every
restart for as long as that socket lives. Ports below the ephemeral range are never given out
automatically, so a port picked there stays free unless someone asks for that very number.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL = (32768, 60999)  # Linux's default
LOWEST = 10000  # below this live well-known services (Redis 6379, Prometheus 9090, ...)
ATTEMPTS = 200

_handed_out: set[int] = set()  # never the same port twice from one process
_lock = threading.Lock()
_rng = random.SystemRandom()


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The kernel's range for automatically assigned ports (inclusive)."""
    try:
        low, high = (int(x) for x in path.read_text().split())
        return low, high
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL


def candidate_ranges(ephemeral: tuple[int, int]) -> list[tuple[int, int]]:
    """Ranges (inclusive) outside the ephemeral one, largest first."""
    low, high = ephemeral
    ranges = [(LOWEST, low - 1), (high + 1, 65535)]
    return sorted((r for r in ranges if r[1] - r[0] >= 100), key=lambda r: r[0] - r[1])


def _bindable(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on `host` now, outside the ephemeral range where one exists (see the module's doc);
    falls back to the kernel's choice when no such range is usable."""
    for first, last in candidate_ranges(ephemeral_range()):
        for _ in range(ATTEMPTS):
            port = _rng.randint(first, last)
            with _lock:
                if port in _handed_out or not _bindable(port, host):
                    continue
                _handed_out.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
