"""Does the learner's memory follow the largest batch so far, or run length? One serial run (learner and
episode player in this process), the process's resident memory and the batch's environment steps after
every update, printed whenever memory moves or the batch sets a new maximum.

Why: Battle episodes lengthen as the policy learns (up to the 100-step limit), so a batch of 10 episodes
grows from ~500 to 1,000 steps, and the allocator keeps the largest update's pool. Memory that steps up
only with new batch maxima and then stays flat is bounded by configuration; growth without new maxima
would be a leak.

Run: .venv/bin/python benchmarks/memory_vs_batch.py --env battle-80 --updates 650
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from vast.common.config import resolve
from vast.common.lifecycle import StopFlag
from vast.learner.local_source import LocalEpisodeSource
from vast.learner.trainer import Trainer


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="battle-80")
    p.add_argument("--updates", type=int, default=650)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any config key")
    p.add_argument("--json", help="write every update's (update, rss_mb, batch_steps) here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        overrides = {
            "env.name": args.env,
            "algo.algo": "vast",
            "algo.assign": "metagrad",
            "algo.eta": "0.25",
            "run.updates": str(args.updates),
            "run.dir": tmp,
            "run.name": "memory",
            "learner.eval_every": "10",
            "learner.checkpoint_every": "0",
            **dict(kv.split("=", 1) for kv in args.set),
        }
        cfg = resolve(None, overrides, environ={})
        source = LocalEpisodeSource(cfg, cfg.env.spec())
        samples: list[dict] = []

        def on_row(row: dict) -> None:
            before = samples[-1]["env_steps"] if samples else 0
            samples.append(
                {"update": row["update"], "rss_mb": rss_mb(), "batch_steps": row["env_steps"] - before,
                 "env_steps": row["env_steps"]}
            )  # fmt: skip

        Trainer(cfg, source, source, Path(tmp) / "memory").run(StopFlag(), on_row=on_row)
    print(f"{'update':>6} {'RSS MB':>8} {'batch steps':>11} {'largest so far':>14}")
    largest, last_rss = 0, 0.0
    for s in samples:
        new_max = s["batch_steps"] > largest
        largest = max(largest, s["batch_steps"])
        if new_max or abs(s["rss_mb"] - last_rss) > 5 or s is samples[-1]:
            print(f"{s['update']:>6} {s['rss_mb']:>8.1f} {s['batch_steps']:>11} {largest:>14}")
        last_rss = s["rss_mb"]
    if args.json:
        Path(args.json).write_text(json.dumps(samples) + "\n")


if __name__ == "__main__":
    main()
