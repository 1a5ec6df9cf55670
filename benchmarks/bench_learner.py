"""Learner update cost: one 10-episode update per method vs the bare forward+backward of its networks.

    python benchmarks/bench_learner.py            # methods on GS-800 (+ Warehouse-16, Battle-80), scaling in N
    python benchmarks/bench_learner.py --quick    # fewer repeats, scaling up to N = 3,200

Update time is the median over repeats of `Algorithm.update` on a fixed batch of 10 episodes (rolled out
once with the initial policy). "fwd+bwd" is the median time of one forward and backward pass of the same
networks on the same batch (actor, local Q-net, Ψ on the sub-team values, VASTNet), with no optimiser,
assignment, clipping or metric work: the overhead ratio is what the update adds on top of the networks.
The scaling table runs each size in a fresh process and reports its peak resident memory.
"""

from __future__ import annotations

import argparse
import importlib.util

import torch

from vast.bench.learner import METHODS, measure, measure_in_subprocess
from vast.envs.registry import FAMILIES, parse_name

SCALING = ["IL", "QMIX", "QTRAN", "VAST-QTRAN-MetaGrad η=¼"]


def env_exists(env_name: str) -> bool:
    family, _ = parse_name(env_name)
    return importlib.util.find_spec(FAMILIES[family]) is not None


def print_table(rows: list[dict], memory: bool, header: bool = True) -> None:
    head = f"{'env':<24}{'method':<26}{'K':>6}{'params(M)':>11}{'update s':>10}{'fwd+bwd s':>11}{'ratio':>7}"
    if header:
        print(head + (f"{'peak RSS GB':>13}" if memory else ""))
    for r in rows:
        line = (
            f"{r['env']:<24}{r['method']:<26}{r['K']:>6}{r['params_M']:>11.2f}"
            f"{r['update_s']:>10.4f}{r['fwd_bwd_s']:>11.4f}{r['ratio']:>7.2f}"
        )
        print(line + (f"{r['peak_rss_GB']:>13.2f}" if memory else ""), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 repeats, scaling only up to N = 3,200")
    parser.add_argument("--no-scaling", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeats = 3 if args.quick else args.repeats

    print(f"torch {torch.__version__}, 1 thread, CPU; median of {repeats} repeats, 10-episode batches\n")
    envs = ["gaussian-squeeze-800"] + [e for e in ("warehouse-16", "battle-80") if env_exists(e)]
    for env_name in envs:
        print_table([measure(env_name, method, repeats) for method in METHODS], memory=False)
        print()
    if args.no_scaling:
        return
    sizes = [200, 800, 3200] if args.quick else [200, 800, 3200, 12800]
    rows = []
    for method in SCALING:
        for n in sizes:
            n_repeats = repeats if n < 12800 else min(repeats, 3)
            rows.append(measure_in_subprocess(f"gaussian-squeeze-{n}", method, n_repeats))
            print_table(rows[-1:], memory=True, header=len(rows) == 1)


if __name__ == "__main__":
    main()
