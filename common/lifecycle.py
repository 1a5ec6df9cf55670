"""Graceful stop for role processes: SIGTERM/SIGINT set a flag that every loop checks between
bounded waits, and a child dies with its parent (PR_SET_PDEATHSIG), so nothing is orphaned."""

from __future__ import annotations

import ctypes
import os
import signal
import threading

_PR_SET_PDEATHSIG = 1


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str = "stop requested") -> None:
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    def exit_code(self) -> int:
        """The shell's convention for a process stopped by a signal: 128 + its number (0 otherwise)."""
        if self.reason.startswith("signal "):
            return 128 + signal.Signals[self.reason.removeprefix("signal ")].value
        return 0

    def install_signal_handlers(self) -> StopFlag:
        def handler(signum, _frame):
            self.set(f"signal {signal.Signals(signum).name}")

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        return self


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Used as Popen(preexec_fn=...): the kernel sends `sig` to the child when its parent exits."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)
    except OSError:  # not Linux: the launcher's own cleanup still stops children
        pass
    if os.getppid() == 1:  # parent already gone before prctl took effect
        os.kill(os.getpid(), sig)
