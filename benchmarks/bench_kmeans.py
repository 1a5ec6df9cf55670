"""Spatial's k-means: the compiled CPU pass against the batched tensor ops (what a GPU runs), side by side.

    python benchmarks/bench_kmeans.py                # Battle-80 and Battle-800 shapes, 4 alternated repeats
    python benchmarks/bench_kmeans.py --update       # plus one VAST-QTRAN-Spatial update on the bench batch

Both paths run in one process on the same inputs, alternating which goes first, so the machine's drift
hits both. The k-means rows use integer (x, y) on a grid with about half the agents alive, the share in
the bench's Battle-800 batch; the update rows use that batch itself. The table gives medians and the
ratio of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vast.learner.algos.assignment import spatial

PATHS = {"compiled": spatial.batched_kmeans, "tensor": spatial.batched_kmeans_torch}
SHAPES = {"battle-80": (576, 80, 20), "battle-800": (916, 800, 200)}  # (M, N, K) of the bench batches


def alternate(run, repeats: int) -> dict[str, list[float]]:
    """Seconds of run(path) for each path, the order flipped on every repeat."""
    times = {name: [] for name in PATHS}
    for i in range(repeats):
        for name in list(PATHS) if i % 2 == 0 else list(PATHS)[::-1]:
            start = time.perf_counter()
            run(name)
            times[name].append(time.perf_counter() - start)
    return times


def kmeans_times(shape: tuple[int, int, int], repeats: int) -> dict[str, list[float]]:
    m, n, k = shape
    gen = torch.Generator().manual_seed(0)
    points = torch.randint(0, 80, (m, n, 2), generator=gen).float()
    alive = torch.rand(m, n, generator=gen) < 0.46
    spatial.batched_kmeans(points[:2], alive[:2], k, gen)  # compile (or load the cache) outside the clock
    return alternate(lambda name: PATHS[name](points, alive, k, torch.Generator().manual_seed(1)), repeats)


def update_times(env_name: str, repeats: int) -> dict[str, list[float]]:
    from vast.bench.learner import METHODS, make_batch
    from vast.envs.registry import make_spec
    from vast.learner.algos import build_algorithm
    from vast.learner.allocator import retain_freed_memory

    retain_freed_memory()  # as the trainer does: updates reuse their freed temporaries
    spec = make_spec(env_name)
    batch = make_batch(spec)
    algo = build_algorithm(METHODS["VAST-QTRAN-Spatial η=¼"], spec, "cpu", seed=0)
    algo.update(batch, mode="sync")  # warm-up: allocations, compilation

    def run(name: str) -> None:
        spatial.batched_kmeans = PATHS[name]  # what spatial_assignment calls
        algo.update(batch, mode="sync")

    try:
        return alternate(run, repeats)
    finally:
        spatial.batched_kmeans = PATHS["compiled"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--threads", type=int, default=2, help="torch threads (the compiled pass uses one)")
    p.add_argument("--update", action="store_true", help="also time whole updates at Battle-800")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = [
        (f"k-means {env} (M, N, K) = {shape}", kmeans_times(shape, args.repeats))
        for env, shape in SHAPES.items()
    ]
    if args.update:
        rows.append(("update battle-800 VAST-QTRAN-Spatial", update_times("battle-800", args.repeats)))
    print(f"{'what':<48}{'compiled s':>12}{'tensor s':>12}{'ratio':>8}   runs (compiled | tensor)")
    for what, times in rows:
        fast, slow = statistics.median(times["compiled"]), statistics.median(times["tensor"])
        runs = (
            " ".join(f"{t:.3f}" for t in times["compiled"])
            + " | "
            + " ".join(f"{t:.3f}" for t in times["tensor"])
        )
        print(f"{what:<48}{fast:>12.3f}{slow:>12.3f}{slow / fast:>7.2f}x   {runs}")


if __name__ == "__main__":
    main()
