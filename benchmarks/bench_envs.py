"""Random-policy environment throughput, single thread: agent-steps per second of step() + observe().

Run as `python benchmarks/bench_envs.py [--repeats 5] [--seconds 1.0] [--batch 64] [--envs a,b,..]`.
Every named and larger instance, with targets; the measurement itself is `vast.bench.envs` (also the
`envs` section of `vast bench`). Each cell is the median of `--repeats` timed runs of about `--seconds`.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import contextlib
import sys

from vast.bench.envs import env_rates

DEFAULT_ENVS = (
    "warehouse-4",
    "warehouse-8",
    "warehouse-16",
    "warehouse-64",
    "warehouse-256",
    "battle-20",
    "battle-40",
    "battle-80",
    "battle-320",
    "battle-1000",
    "gaussian-squeeze-200",
    "gaussian-squeeze-800",
    "gaussian-squeeze-3200",
)
TARGETS = {"warehouse-16": 250_000, "battle-80": 460_000, "gaussian-squeeze-800": 3_600_000}


def _one_thread(pin: bool) -> None:
    """Single-threaded numba/numpy/torch; optionally pinned to one CPU (off by default: pinning onto a
    core another process is busy on would measure that contention instead)."""
    if pin:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", default=",".join(DEFAULT_ENVS))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--pin", action="store_true", help="pin the process to one CPU")
    args = p.parse_args(argv)
    _one_thread(args.pin)
    print(f"B = {args.batch} copies, one thread, median of {args.repeats} x ~{args.seconds:.1f} s")
    print(f"{'env':<22} {'step+observe':>16} {'+wire_step':>16} {'target':>12}")
    for name in args.envs.split(","):
        rates = env_rates(name, args.batch, args.seconds, args.repeats)
        plain, wire = rates["agent_steps_per_s"], rates["with_wire_per_s"]
        target = TARGETS.get(name)
        mark = "" if target is None else f"{target:>12,}" + (" ok" if plain >= target else " MISS")
        print(f"{name:<22} {plain:>16,.0f} {wire:>16,.0f} {mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
