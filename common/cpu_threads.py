"""How many CPU threads torch's kernels use, per calling thread, and how long idle OpenMP threads spin.

Why per thread: the learner plays its evaluation episodes on a worker thread while the main thread
updates. `torch.set_num_threads` is process-wide (it also sets MKL's global count), but the OpenMP and
MKL runtimes that torch's CPU kernels use keep a thread count per calling thread as well. A worker
thread that leaves them at the process's count opens its own OpenMP team; libgomp then sees more of
its threads than cores and cuts every team's spin-wait to almost nothing, so each of the update's
several hundred parallel regions wakes its sleeping threads through the kernel. Measured at
Warehouse-16 (VAST-QTRAN, two threads, `docs/performance.md`): an update of 0.037 s took 0.050 s with
the evaluation thread beside it. `run_on_one_thread` sets the calling thread's own counts to one;
the other threads keep theirs. The episodes do not change: the tests play the same episodes on one thread
and on two and compare them array for array. The price is at large N: a Battle-800 evaluation takes 0.76 s
on one thread instead of 0.52 s on two, inside a 2.7 s sync cycle.

Why a spin-wait default: with OMP_WAIT_POLICY=PASSIVE (vast's earlier default) an update's threads
sleep between its parallel regions and every region pays a wake-up: a Warehouse-16 update took 0.054 s
instead of 0.038 s. A short spin (GOMP_SPINCOUNT=30000) keeps them awake through an update and lets
them sleep soon after it, off the cores the actors then need; libgomp's own default (300,000) gave
the same end-to-end rates in the bench, with threads that linger ten times longer.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

SPIN_DEFAULTS = {"GOMP_SPINCOUNT": "30000"}  # libgomp's; a user's own setting (or OMP_WAIT_POLICY) wins
OPENMP_LIBRARIES = ("libgomp", "libiomp5", "libomp")


def default_spin_wait(environ: dict[str, str] | None = None) -> None:
    """Set the short spin-wait default before torch loads (it reads the environment once, at load),
    unless the user chose a policy: OMP_WAIT_POLICY or GOMP_SPINCOUNT already set."""
    environ = os.environ if environ is None else environ
    if "OMP_WAIT_POLICY" in environ:
        return
    for key, value in SPIN_DEFAULTS.items():
        environ.setdefault(key, value)


def _loaded_library(prefixes: tuple[str, ...]) -> str | None:
    """The path of the first shared library this process has mapped whose file name starts with one of
    `prefixes` (Linux: /proc/self/maps); None elsewhere or when none is mapped."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        if path.startswith("/") and Path(path).name.startswith(prefixes):
            return path
    return None


def run_on_one_thread() -> bool:
    """Make torch's CPU kernels called from this thread run on this thread alone; other threads keep
    their counts. True when torch reports one thread here afterwards; False where the runtimes could
    not be reached (then nothing changed)."""
    import torch

    torch.get_num_threads()  # torch sets a new thread's counts on its first call; ours must come after
    openmp = _loaded_library(OPENMP_LIBRARIES)
    if openmp is None:
        return torch.get_num_threads() == 1
    try:
        runtime = ctypes.CDLL(openmp)
        runtime.omp_set_num_threads.argtypes = [ctypes.c_int]
        runtime.omp_set_num_threads(1)
    except (OSError, AttributeError):
        return False
    torch_cpu = _loaded_library(("libtorch_cpu",))
    if torch_cpu is not None:  # MKL, linked into libtorch_cpu on x86 builds: its own per-thread count
        try:
            set_local = ctypes.CDLL(torch_cpu).MKL_Set_Num_Threads_Local  # the C entry: by value
            set_local.argtypes = [ctypes.c_int]
            set_local(1)
        except (OSError, AttributeError):
            pass  # no MKL in this build: its BLAS follows OpenMP's count
    return torch.get_num_threads() == 1
