"""Where one learner update's time goes: the phases (Python functions, cProfile) and the top torch ops
(torch.profiler, self CPU time) of one update of each method on a fixed 10-episode batch.

    nice -n 5 .venv/bin/python benchmarks/profile_update.py --env battle-800
    .venv/bin/python benchmarks/profile_update.py --env warehouse-16 --methods QTRAN --top 5

The batch is rolled out once with the initial policy (as `vast bench`'s learner section does); one
update warms up, the next is profiled, on one thread unless --threads says otherwise.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import torch
from torch.profiler import ProfilerActivity, profile

from vast.bench.learner import METHODS, make_batch, peak_rss_gb
from vast.envs.registry import make_spec
from vast.learner.algos import build_algorithm
from vast.learner.allocator import retain_freed_memory

DEFAULT_METHODS = ["QTRAN", "VAST-QTRAN-MetaGrad η=¼", "VAST-QTRAN-Spatial η=¼"]


def phases(stats: pstats.Stats, total: float, top: int) -> list[str]:
    """The project's own functions by cumulative time (a phase is one of them and what it calls)."""
    rows = []
    for (path, line, name), (_, _, _, cumulative, _) in stats.stats.items():
        if "/vast/" in path or "/learner/" in path or "/common/" in path:
            where = path.split("/")[-2] + "/" + path.split("/")[-1]
            rows.append((cumulative, f"{where}:{line} {name}"))
    rows.sort(reverse=True)
    return [f"  {100 * c / total:5.1f}%  {c:8.3f} s  {what}" for c, what in rows[:top]]


def profile_method(env: str, method: str, top: int) -> None:
    retain_freed_memory()
    spec = make_spec(env)
    batch = make_batch(spec)
    algo = build_algorithm(METHODS[method], spec, "cpu", seed=0)
    algo.update(batch, mode="sync")  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    algo.update(batch, mode="sync")
    plain, cpu = time.perf_counter() - t0, time.process_time() - c0
    profiler = cProfile.Profile()
    profiler.enable()
    algo.update(batch, mode="sync")
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = int(batch.valid.sum())
    print(
        f"\n## {env} {method}: {rows} rows x N={spec.n_agents}, update {plain:.3f} s unprofiled "
        f"({cpu:.3f} CPU-s: on a loaded machine wall time is inflated, the shares below are not), "
        f"peak RSS {peak_rss_gb():.2f} GB, {torch.get_num_threads()} thread(s)"
    )
    print(f"phases (cumulative, % of the profiled update's {stats.total_tt:.3f} s):")
    print("\n".join(phases(stats, stats.total_tt, top)))
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        algo.update(batch, mode="sync")
    print("top torch ops by self CPU time:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=40))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="battle-800")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated, as in vast bench")
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        profile_method(args.env, method, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
