"""Time to score, sync vs async: what async mode is for.

For each environment: one sync run at the given budget (updates) sets the score — the mean evaluation
metric of its last `--window` evaluations; then async runs with 1, 2, 4 and 8 actor processes train until
their own moving mean of `--window` evaluations reaches that score (or `--max-minutes` pass). Every run is
a real `vast train` (embedded Redis, replay, learner, actors as processes) with the same seed. Time to
score is the learner's wall time at the first evaluation where the moving mean reaches the score, by the
same rule for the sync run (which reaches it at the latest at its last evaluation). Prints one table and
writes JSON (every run's numbers and the machine's load average) with `--json`.

Run (the defaults, at most about 50 minutes on 2 shared cores):
    nice -n 5 .venv/bin/python benchmarks/bench_async.py --json benchmarks/results/async-time-to-score.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vast.common.config import resolve
from vast.common.rundir import METRICS, SUMMARY, read_rows
from vast.launch.local import LocalCluster

# Sync budgets (updates) that fit a benchmark of under an hour on 2 cores, far below the paper's 3000 / 2000
# epochs, yet where the sync policy is clearly better than a random one (docs/performance.md).
BUDGETS = {"warehouse-16": 400, "battle-80": 150}


def first_reach(rows: list[dict], target: float, window: int) -> dict | None:
    """The first row with an evaluation at which the mean of the last `window` evaluations reaches target."""
    evals: list[float] = []
    for row in rows:
        if row["eval_metric"] is None:
            continue
        evals.append(row["eval_metric"])
        if len(evals) >= window and statistics.mean(evals[-window:]) >= target:
            return row
    return None


def weighted_median(histogram: dict[str, int]) -> float | None:
    """Median of a {value: count} histogram (policy lag per consumed episode)."""
    total = sum(histogram.values())
    if not total:
        return None
    seen = 0
    for value, count in sorted((int(v), n) for v, n in histogram.items()):
        seen += count
        if 2 * seen >= total:
            return float(value)
    return None


def learner_times(rows: list[dict]) -> dict:
    """Where the learner's wall time went: median seconds of one update, and the share spent waiting for
    a batch. On a shared machine the update time also shows how contended the CPU was during the run."""
    wall = rows[-1]["wall_s"] if rows else 0.0
    return {
        "update_s_median": statistics.median(r["time_update_s"] for r in rows) if rows else None,
        "wall_per_update_s": wall / len(rows) if rows else None,
        "learner_wait_share": sum(r["time_wait_s"] for r in rows) / wall if wall else None,
    }


def _run(run_dir: Path, name: str, settings: dict, target: float | None, window: int, max_s: float) -> dict:
    """One multi-process run; with a target, stopped as soon as the moving mean of evaluations reaches it."""
    cfg = resolve(None, {"run.dir": str(run_dir), "run.name": name, **settings}, environ={})
    load_start = os.getloadavg()[0]
    cluster = LocalCluster(cfg).start()
    start = time.monotonic()
    try:
        while not cluster.learner_done() and time.monotonic() - start < max_s:
            cluster.check_children()
            if target is not None and first_reach(read_rows(run_dir / name / METRICS), target, window):
                break
            time.sleep(1.0)
    finally:
        cluster.stop()
    rows = read_rows(run_dir / name / METRICS)
    summary_path = run_dir / name / SUMMARY
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    last = rows[-1] if rows else {"update": 0, "wall_s": 0.0, "episodes": 0, "env_steps": 0}
    evals = [r["eval_metric"] for r in rows if r["eval_metric"] is not None]
    dropped = summary.get("dropped", {})
    consumed = summary.get("episodes", last["episodes"])
    lag = summary.get("policy_lag_histogram", {})
    return {
        "run": name,
        "updates": last["update"],
        "wall_s": last["wall_s"],
        "env_steps": last["env_steps"],
        "env_steps_per_s": last["env_steps"] / last["wall_s"] if last["wall_s"] else 0.0,
        "score": statistics.mean(evals[-window:]) if evals else float("nan"),
        "dropped": dropped,
        "episodes_consumed": consumed,
        "dropped_fraction": sum(dropped.values()) / max(1, sum(dropped.values()) + consumed),
        "policy_lag_median": weighted_median(lag),
        "policy_lag_histogram": lag,
        **learner_times(rows),
        "loadavg_1min_start": load_start,
        "loadavg_1min_end": os.getloadavg()[0],
        "rows": rows,
    }


def _reached(run: dict, target: float, window: int) -> None:
    hit = first_reach(run.pop("rows"), target, window)
    run.update(
        target=target,
        reached_update=hit["update"] if hit else None,
        time_to_score_s=hit["wall_s"] if hit else None,
    )


def print_table(results: list[dict]) -> None:
    header = (
        f"{'env':<14}{'mode':<7}{'actors':>7}{'target':>9}{'time to score s':>17}{'speed-up':>10}"
        f"{'at update':>11}{'updates':>9}{'steps/s':>9}{'dropped':>9}{'lag med':>9}{'load':>11}"
    )
    print(header)
    for env in dict.fromkeys(r["env"] for r in results):
        rows = [r for r in results if r["env"] == env]
        sync_s = rows[0]["time_to_score_s"] if rows[0]["mode"] == "sync" else None
        for r in rows:
            t = r["time_to_score_s"]
            shown = f"{t:.0f}" if t is not None else f"not in {r['wall_s'] / 60:.1f}m"
            speed = f"{sync_s / t:.2f}x" if t and sync_s else "-"
            lag = r["policy_lag_median"]
            print(
                f"{env:<14}{r['mode']:<7}{r['actors']:>7}{r['target']:>9.2f}{shown:>17}{speed:>10}"
                f"{r['reached_update'] or '-':>11}{r['updates']:>9}{r['env_steps_per_s']:>9.0f}"
                f"{100 * r['dropped_fraction']:>8.1f}%{'-' if lag is None else f'{lag:.0f}':>9}"
                f"{r['loadavg_1min_start']:>5.1f}-{r['loadavg_1min_end']:<5.1f}"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", action="append", help=f"environment (repeatable; default: {', '.join(BUDGETS)})")
    p.add_argument("--updates", action="append", type=int, help="sync budget per --env (default: BUDGETS)")
    p.add_argument("--actors", default="1,2,4,8", help="async actor counts")
    p.add_argument("--sync-actors", type=int, default=2, help="actor processes of the sync run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=int, default=10, help="evaluations in the moving mean")
    p.add_argument("--eval-every", type=int, default=5, help="updates between evaluations (10 episodes)")
    p.add_argument("--max-minutes", type=float, default=5.0, help="per async run")
    p.add_argument("--set", action="append", default=[], help="extra setting for every run, KEY=VALUE")
    p.add_argument("--async-set", action="append", default=[], help="extra setting for async runs, KEY=VALUE")
    p.add_argument(
        "--target", action="append", type=float, help="score per --env: skip the sync run (variants of async)"
    )
    p.add_argument("--run-dir", help="keep the run directories here (default: a temporary folder)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    envs = args.env or list(BUDGETS)
    budgets = args.updates or [BUDGETS[env] for env in envs]
    if len(budgets) != len(envs):
        p.error("give one --updates per --env")
    if args.target and len(args.target) != len(envs):
        p.error("give one --target per --env")
    extra = dict(item.split("=", 1) for item in args.set)
    async_extra = dict(item.split("=", 1) for item in args.async_set)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(args.run_dir or tmp)
        for i, (env, budget) in enumerate(zip(envs, budgets)):
            base = {
                "env.name": env,
                "run.seed": args.seed,
                "learner.eval_every": args.eval_every,
                "learner.eval_greedy": False,
                "learner.checkpoint_every": 0,
                **extra,
            }
            if args.target:
                target = args.target[i]
            else:
                sync_settings = {**base, "actors": args.sync_actors, "run.updates": budget}
                sync = _run(run_dir, f"{env}-sync", sync_settings, None, args.window, float("inf"))
                target = sync["score"]
                _reached(sync, target, args.window)
                sync.update(env=env, mode="sync", actors=args.sync_actors)
                results.append(sync)
                print(json.dumps(sync), flush=True)
            for m in (int(a) for a in args.actors.split(",")):
                settings = {
                    **base,
                    "learner.mode": "async",
                    "actors": m,
                    "run.updates": 4 * budget,
                    **async_extra,
                }
                run = _run(run_dir, f"{env}-async-{m}", settings, target, args.window, 60 * args.max_minutes)
                _reached(run, target, args.window)
                run.update(env=env, mode="async", actors=m)
                results.append(run)
                print(json.dumps(run), flush=True)
    print(
        f"\nmachine: {platform.node()}, {os.cpu_count()} CPUs, load = 1-min load average at start-end of run"
    )
    print_table(results)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        meta = {"command": " ".join(sys.argv), "cpus": os.cpu_count(), "node": platform.node()}
        Path(args.json).write_text(
            json.dumps({"meta": meta, "args": vars(args), "runs": results}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
