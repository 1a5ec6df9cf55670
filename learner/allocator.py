"""Keep freed memory in the learner's heap instead of handing it back to the kernel after every update.

Why: an update allocates and frees the same large temporaries every time (activations and gradients:
several GB at Battle-800). glibc serves every block above its mmap threshold (32 MiB at most, by
default) with fresh pages from the kernel and unmaps it when freed, so each update faulted all of its
memory in again, zero-filled: 2.7 M page faults and 3.8 of 10.4 CPU-seconds of a Battle-800
VAST-QTRAN-MetaGrad update were spent in the kernel. With both thresholds raised, freed blocks are
reused: resident memory stays at the update's peak working set, which the process reached anyway and
which does not grow with run length (`vast bench` samples every process's memory over a run).
Numbers do not change: only where memory comes from. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # mallopt parameters (glibc malloc.h)
M_MMAP_THRESHOLD = -3
LARGEST = 2**31 - 1  # mallopt takes an int: blocks up to 2 GiB come from the reusable heap


def retain_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False where that is not possible."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, LARGEST)) and bool(mallopt(M_TRIM_THRESHOLD, LARGEST))
