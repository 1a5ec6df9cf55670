"""Sample efficiency: sync updates (10 episodes each) until the evaluation metric exceeds a target.

Run: .venv/bin/python benchmarks/bench_learning.py --env gaussian-squeeze-800 --target 400 --max-updates 10000
Driven in-process through the same rollout -> build_batch -> update path the learner service uses;
evaluation = mean domain metric of 10 stochastic-policy episodes every --eval-every updates.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.rollout import rollout  # noqa: E402
from common.config import resolve  # noqa: E402
from envs.registry import make_env, make_spec  # noqa: E402
from learner.algos import build_algorithm  # noqa: E402
from learner.batch import build_batch  # noqa: E402

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
    cfg = resolve(None, {"env.name": env_name, **overrides}, environ={})
    spec = make_spec(env_name)
    algo = build_algorithm(cfg.algo, spec, "cpu", seed)
    env = make_env(spec, 10)
    train_gen, eval_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    start = time.perf_counter()
    best, last, reached = -np.inf, None, None
    for update in range(1, max_updates + 1):
        episodes, _ = rollout(env, algo.policy, update, train_gen, {"policy_version": update - 1})
        algo.update(build_batch(episodes, spec, "cpu", update - 1), mode="sync")
        if update % eval_every == 0:
            evaluation, _ = rollout(env, algo.policy, -update, eval_gen)
            last = float(np.mean([ep.header["metric"] for ep in evaluation]))
            best = max(best, last)
            if last > target:
                reached = update
                break
    return {
        "reached": reached,
        "updates": update,
        "last": last,
        "best": best,
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
