"""Soak: `vast train` (supervised local processes, embedded Redis with AOF) for a long wall time,
sampling the resident memory (RSS) of every process and Redis's own memory accounting.

Run (30 minutes, the figures in docs/reliability.md):
    nice -n 5 .venv/bin/python benchmarks/soak.py --minutes 30

Async mode with more actor throughput than the learner consumes and no staleness limit, so the Redis
buffer fills up to `replay.max_backlog` and stays full (back-pressure); de-duplication markers expire after
`replay.dedupe_ttl_s`. Once both are full, memory must stay flat: the script prints RSS and Redis memory
over time and, per process, the growth rate over the window after warm-up (MB per 10 minutes, least
squares), and writes every sample to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import psutil
import redis

from vast.common.config import resolve
from vast.common.lifecycle import StopFlag
from vast.common.rundir import read_rows
from vast.common.store import RunStore, connect
from vast.launch.local import LocalCluster

MB = 1024 * 1024


def sample(cluster: LocalCluster, store: RunStore, started: float) -> dict:
    rss = {}
    for name, proc in cluster.procs.items():
        try:
            rss[name] = psutil.Process(proc.pid).memory_info().rss / MB
        except psutil.Error:
            rss[name] = float("nan")
    rss["redis"] = psutil.Process(cluster.redis.proc.pid).memory_info().rss / MB
    info = store.r.info("memory")
    rows = read_rows(cluster.run_dir / "metrics.jsonl")
    return {
        "t_min": (time.monotonic() - started) / 60,
        "rss_mb": rss,
        "redis_used_mb": info["used_memory"] / MB,
        "buffered": store.depth(),
        "markers": sum(1 for _ in store.r.scan_iter(match=f"{store.prefix}:seen:*", count=5000)),
        "updates": rows[-1]["update"] if rows else 0,
        "ledger": store.ledger(),
    }


def slope_mb_per_10min(samples: list[dict], key) -> float:
    xs = [s["t_min"] for s in samples]
    ys = [key(s) for s in samples]
    if len(xs) < 3:
        return float("nan")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 10 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--every-s", type=float, default=30.0, help="sampling interval")
    p.add_argument("--warmup-min", type=float, default=8.0, help="growth is fitted after this")
    p.add_argument("--env", default="gaussian-squeeze-200")
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--batch-envs", type=int, default=32, help="environment copies per actor")
    p.add_argument("--backlog", type=int, default=300)
    p.add_argument("--dedupe-ttl-s", type=int, default=300)
    p.add_argument(
        "--critic-hidden", type=int, default=4096, help="a bigger critic: a learner slower than the actors"
    )
    p.add_argument(
        "--fsync", default="always", choices=("always", "everysec"), help="embedded Redis AOF fsync"
    )
    p.add_argument("--out", default="soak.json")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vast-soak-"))
    cfg = resolve(
        None,
        {
            "env.name": args.env,
            "run.dir": str(root),
            "run.name": "soak",
            "run.minutes": args.minutes,
            "learner.mode": "async",
            "learner.max_policy_lag": 1_000_000,  # nothing is dropped as stale: the buffer fills up
            "actors": args.actors,
            "actor.batch_envs": args.batch_envs,
            "learner.eval_every": 50,
            "learner.checkpoint_every": 200,
            "replay.max_backlog": args.backlog,
            "replay.dedupe_ttl_s": args.dedupe_ttl_s,
            "algo.critic_hidden": args.critic_hidden,
            "run.redis_fsync": args.fsync,
        },
        environ={},
    )
    stop = StopFlag().install_signal_handlers()  # Ctrl-C or SIGTERM: stop the run, print what was measured
    cluster = LocalCluster(cfg).start()
    store = RunStore(connect(cfg.redis_url), cfg.run.name)
    samples = []
    started = time.monotonic()
    try:
        cluster.endpoints(timeout_s=120)
        while not cluster.learner_done() and not stop.is_set():
            samples.append(sample(cluster, store, started))
            s = samples[-1]
            print(
                f"{s['t_min']:6.1f} min  updates {s['updates']:6d}  buffered {s['buffered']:5d}  markers "
                f"{s['markers']:6d}  redis {s['redis_used_mb']:6.1f} MB  "
                + "  ".join(f"{k} {v:6.1f}" for k, v in s["rss_mb"].items()),
                flush=True,
            )
            end = time.monotonic() + args.every_s
            while time.monotonic() < end and not cluster.learner_done() and not stop.wait(1.0):
                pass
    except redis.RedisError as exc:
        print(f"Redis error while sampling: {exc}")
    finally:
        cluster.stop()
    late = [s for s in samples if s["t_min"] >= args.warmup_min]
    names = list(samples[0]["rss_mb"]) if samples else []
    print(
        f"\nsoak: {args.env}, async, {args.actors} actors, backlog {args.backlog}, dedupe TTL {args.dedupe_ttl_s}s"
    )
    print(
        f"restarts: {cluster.restarts or 'none'}; final ledger: {samples[-1]['ledger'] if samples else '-'}"
    )
    print(
        f"\n| process | RSS at {args.warmup_min:.0f} min (MB) | RSS at end (MB) | growth after warm-up (MB / 10 min) |"
    )
    print("|---|---|---|---|")
    if not late:
        return
    for name in names:
        first, last = late[0]["rss_mb"][name], late[-1]["rss_mb"][name]
        growth = slope_mb_per_10min(late, lambda s, n=name: s["rss_mb"][n])
        print(f"| {name} | {first:.1f} | {last:.1f} | {growth:+.2f} |")
    growth = slope_mb_per_10min(late, lambda s: s["redis_used_mb"])
    print(
        f"| redis used_memory | {late[0]['redis_used_mb']:.1f} | {late[-1]['redis_used_mb']:.1f} | {growth:+.2f} |"
    )
    Path(args.out).write_text(json.dumps(samples, indent=1))
    print(f"\nsamples: {args.out}")


if __name__ == "__main__":
    main()
