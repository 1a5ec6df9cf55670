"""Sample efficiency: sync updates (10 episodes each) until the evaluation metric exceeds a target.

Run: .venv/bin/python benchmarks/bench_learning.py --env gaussian-squeeze-800 --target 400 --max-updates 10000
Driven by the trainer loop with in-process episodes (the `vast train --serial` topology); evaluation =
mean domain metric of 10 stochastic-policy episodes every --eval-every updates.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from vast.common.config import resolve
from vast.common.lifecycle import StopFlag
from vast.learner.local_source import LocalEpisodeSource
from vast.learner.trainer import Trainer

METHODS = {
    "vast-qtran-eta0.25": {
        "algo.algo": "vast",
        "algo.mixer": "qtran",
        "algo.assign": "metagrad",
        "algo.eta": 0.25,
    },
    "qtran": {"algo.algo": "qtran"},
}


def run(env_name: str, overrides: dict, seed: int, target: float, max_updates: int, eval_every: int) -> dict:
    """Serial sync training (the trainer loop with in-process episodes) until the evaluation exceeds target."""
    cfg = resolve(
        None,
        {
            "env.name": env_name,
            "run.seed": seed,
            "run.updates": max_updates,
            "learner.eval_every": eval_every,
            "learner.checkpoint_every": 0,
            **overrides,
        },
        environ={},
    )
    source = LocalEpisodeSource(cfg, cfg.env.spec())
    stop, evals = StopFlag(), []

    def on_row(row: dict) -> None:
        if row["eval_metric"] is not None:
            evals.append((row["update"], row["eval_metric"]))
            if row["eval_metric"] > target:
                stop.set("target reached")

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        summary = Trainer(cfg, source, source, Path(tmp)).run(stop, on_row=on_row)
    return {
        "reached": evals[-1][0] if stop.is_set() else None,
        "updates": summary["updates"],
        "last": evals[-1][1] if evals else None,
        "best": max(v for _, v in evals) if evals else None,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--env", default="gaussian-squeeze-800")
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", type=float, default=400.0)
    p.add_argument("--max-updates", type=int, default=10_000)
    p.add_argument("--eval-every", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"{args.env}, seed {args.seed}: sync updates until the evaluation metric exceeds {args.target}")
    print(
        f"{'method':<22}{'reached at':>12}{'updates run':>13}{'last eval':>11}{'best eval':>11}{'seconds':>9}"
    )
    for name in args.methods:
        r = run(args.env, METHODS[name], args.seed, args.target, args.max_updates, args.eval_every)
        reached = str(r["reached"]) if r["reached"] else "not reached"
        print(
            f"{name:<22}{reached:>12}{r['updates']:>13}{r['last']:>11.2f}{r['best']:>11.2f}{r['seconds']:>9.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
