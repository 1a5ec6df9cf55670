"""Random-policy environment throughput, single thread: agent-steps per second of step() + observe().

Run as `python benchmarks/bench_envs.py [--repeats 5] [--seconds 1.0] [--batch 64] [--envs a,b,..]`.
Counted per batch step: `step(actions)` + `observe()` (what an actor needs), plus `reset()` at episode
starts; random actions are drawn with numpy outside the timed region (a pool of pre-drawn episodes,
cycled). Only copies still running count (done copies are free). A second column adds `wire_step()`.
Each cell is the median of `--repeats` timed runs of about `--seconds` each, after one warm-up episode
(which also triggers numba compilation).
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import contextlib
import statistics
import sys
import time

import numpy as np

from vast.envs.registry import make_env, make_spec

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


def measure(name: str, batch: int, seconds: float, with_wire: bool, seed: int = 0) -> float:
    """Agent-steps per second over whole episodes until `seconds` of timed env work have elapsed."""
    spec = make_spec(name)
    env = make_env(spec, batch)
    rng = np.random.default_rng(seed)
    n = spec.n_agents
    timed = 0.0
    agent_steps = 0
    episode = 0
    # a pool of pre-drawn episodes' actions, cycled: drawing them is not what is measured, and for
    # one-step episodes (GaussianSqueeze) drawing per episode would dominate the wall time
    pool = [
        rng.integers(0, spec.n_actions, size=(spec.episode_limit, batch, n), dtype=np.int64)
        for _ in range(max(1, min(8, 64 // spec.episode_limit)))
    ]
    while episode == 0 or timed < seconds:
        actions = pool[episode % len(pool)]
        t0 = time.perf_counter()
        env.reset(seed + episode)
        active = np.ones(batch, dtype=bool)
        count = 0
        for t in range(spec.episode_limit):
            env.observe()
            if with_wire:
                env.wire_step()
            count += int(active.sum())
            result = env.step(actions[t])
            active = ~result.done
            if not active.any():
                break
        timed += time.perf_counter() - t0
        agent_steps += count * n
        episode += 1
    return agent_steps / timed


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
        measure(name, args.batch, 0.0, True)  # warm-up episode: compile / load numba caches
        plain = statistics.median(measure(name, args.batch, args.seconds, False) for _ in range(args.repeats))
        wire = statistics.median(measure(name, args.batch, args.seconds, True) for _ in range(args.repeats))
        target = TARGETS.get(name)
        mark = "" if target is None else f"{target:>12,}" + (" ok" if plain >= target else " MISS")
        print(f"{name:<22} {plain:>16,.0f} {wire:>16,.0f} {mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
