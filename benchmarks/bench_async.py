"""Time to score, sync vs async: what async mode is for.

For each environment: one sync run at the given budget (updates) sets the score — the mean evaluation
metric of its last `--window` evaluations; then async runs with 1, 2, 4 and 8 actor processes train until
their own moving mean reaches that score (or `--max-minutes` pass). Every run is a real `vast train`
(embedded Redis, replay, learner, actors as processes) with the same seed. Prints one table and writes
JSON with `--json`.

Run: .venv/bin/python benchmarks/bench_async.py --env warehouse-16 --updates 3000 --env battle-80 --updates 2000
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from vast.common.config import resolve
from vast.common.rundir import METRICS, SUMMARY, read_rows
from vast.launch.local import LocalCluster


def _run(run_dir: Path, name: str, settings: dict, target: float | None, window: int, max_s: float) -> dict:
    """One multi-process run; with a target, stopped as soon as the moving mean of evaluations reaches it."""
    cfg = resolve(None, {"run.dir": str(run_dir), "run.name": name, **settings}, environ={})
    cluster = LocalCluster(cfg).start()
    start, reached_at = time.monotonic(), None
    try:
        while not cluster.learner_done() and time.monotonic() - start < max_s:
            cluster.check_children()
            rows = read_rows(run_dir / name / METRICS)
            evals = [
                (r["update"], r["wall_s"], r["eval_metric"]) for r in rows if r["eval_metric"] is not None
            ]
            recent = [e for _, _, e in evals[-window:]]
            if target is not None and len(recent) == window and statistics.mean(recent) >= target:
                reached_at = evals[-1]
                break
            time.sleep(1.0)
    finally:
        cluster.stop()
    rows = read_rows(run_dir / name / METRICS)
    summary = (
        json.loads((run_dir / name / SUMMARY).read_text()) if (run_dir / name / SUMMARY).exists() else {}
    )
    evals = [r["eval_metric"] for r in rows if r["eval_metric"] is not None]
    dropped = sum(summary.get("dropped", {}).values())
    consumed = summary.get("episodes", rows[-1]["episodes"] if rows else 0)
    return {
        "run": name,
        "updates": rows[-1]["update"] if rows else 0,
        "wall_s": rows[-1]["wall_s"] if rows else 0.0,
        "score": statistics.mean(evals[-window:]) if evals else float("nan"),
        "reached_update": reached_at[0] if reached_at else None,
        "time_to_score_s": reached_at[1] if reached_at else None,
        "dropped_fraction": dropped / max(1, dropped + consumed),
        "lag_histogram": summary.get("policy_lag_histogram", {}),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", action="append", required=True, help="environment (repeatable)")
    p.add_argument("--updates", action="append", type=int, required=True, help="sync budget per --env")
    p.add_argument("--actors", default="1,2,4,8", help="async actor counts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=int, default=10, help="evaluations in the moving mean")
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--max-minutes", type=float, default=60.0, help="per async run")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for env, budget in zip(args.env, args.updates):
            base = {
                "env.name": env,
                "run.seed": args.seed,
                "learner.eval_every": args.eval_every,
                "learner.checkpoint_every": 0,
            }
            sync = _run(Path(tmp), f"{env}-sync", {**base, "run.updates": budget}, None, args.window, 1e9)
            sync.update(env=env, mode="sync", actors=2, time_to_score_s=sync["wall_s"], reached_update=budget)
            results.append(sync)
            print(json.dumps(sync), flush=True)
            for m in (int(a) for a in args.actors.split(",")):
                settings = {**base, "learner.mode": "async", "actors": m, "run.updates": 4 * budget}
                run = _run(
                    Path(tmp), f"{env}-async-{m}", settings, sync["score"], args.window, 60 * args.max_minutes
                )
                run.update(env=env, mode="async", actors=m)
                results.append(run)
                print(json.dumps(run), flush=True)
    print(f"\nmachine: {platform.node()}, {platform.processor() or platform.machine()}")
    header = f"{'env':<16}{'mode':<7}{'actors':>7}{'score':>9}{'updates':>9}{'time to score s':>17}{'speed-up':>10}{'dropped':>9}"
    print(header)
    for env in args.env:
        rows = [r for r in results if r["env"] == env]
        sync_s = rows[0]["time_to_score_s"]
        for r in rows:
            t = r["time_to_score_s"]
            speed = f"{sync_s / t:.2f}x" if t else "-"
            shown = f"{t:.0f}" if t else f">{r['wall_s']:.0f}"
            print(
                f"{env:<16}{r['mode']:<7}{r['actors']:>7}{r['score']:>9.2f}{r['updates']:>9}{shown:>17}"
                f"{speed:>10}{100 * r['dropped_fraction']:>8.1f}%"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
