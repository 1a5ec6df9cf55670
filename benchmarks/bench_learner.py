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
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from vast.common.config import AlgoConfig
from vast.common.networks import PolicyNet
from vast.common.rollout import rollout
from vast.envs.registry import FAMILIES, make_env, make_spec, parse_name
from vast.learner.algos import build_algorithm
from vast.learner.batch import build_batch

ROOT = Path(__file__).resolve().parents[1]

METHODS = {
    "IL": AlgoConfig(algo="il", mixer="il", assign="identity"),
    "VDN": AlgoConfig(algo="vdn", mixer="vdn", assign="identity"),
    "QMIX": AlgoConfig(algo="qmix", mixer="qmix", assign="identity"),
    "QTRAN": AlgoConfig(algo="qtran", mixer="qtran", assign="identity"),
    "VAST-QTRAN-MetaGrad η=¼": AlgoConfig(algo="vast", mixer="qtran", assign="metagrad", eta=0.25),
    "VAST-QTRAN-Random η=¼": AlgoConfig(algo="vast", mixer="qtran", assign="random", eta=0.25),
    "VAST-QTRAN-Fixed η=¼": AlgoConfig(algo="vast", mixer="qtran", assign="fixed", eta=0.25),
    "VAST-QTRAN-Spatial η=¼": AlgoConfig(algo="vast", mixer="qtran", assign="spatial", eta=0.25),
    "VAST-QTRAN-MetaGrad η=½": AlgoConfig(algo="vast", mixer="qtran", assign="metagrad", eta=0.5),
    "VAST-QMIX-MetaGrad η=½": AlgoConfig(algo="vast", mixer="qmix", assign="metagrad", eta=0.5),
    "VAST-VDN-MetaGrad η=½": AlgoConfig(algo="vast", mixer="vdn", assign="metagrad", eta=0.5),
    "VAST-IL-MetaGrad η=½": AlgoConfig(algo="vast", mixer="il", assign="metagrad", eta=0.5),
}
SCALING = ["IL", "QMIX", "QTRAN", "VAST-QTRAN-MetaGrad η=¼"]


def make_batch(spec, episodes: int = 10):
    torch.manual_seed(0)
    policy = PolicyNet(spec.obs_dense_dim, spec.obs_onehot_dim, spec.n_actions)
    eps, _ = rollout(make_env(spec, episodes), policy, 0, torch.Generator().manual_seed(0))
    return build_batch(eps, spec, "cpu", 0)


def peak_rss_gb() -> float:
    """This process's peak resident memory. VmHWM, unlike ru_maxrss, is not inherited across fork+exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (allocator, lazy init)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def forward_backward(algo, batch) -> None:
    """The networks' own cost on this batch: one forward and one backward each, nothing else."""
    rows = batch.valid
    obs, state = batch.obs.index(rows), batch.state[rows]
    logits, value = algo.policy(obs)
    total = logits.sum() + value.sum()
    if algo.qnet is not None:
        q = algo.qnet(obs)
        q_taken = q.gather(-1, batch.actions[rows].unsqueeze(-1)).squeeze(-1)
        k = algo.n_subteams
        sub = q_taken[:, :k] if k <= q_taken.shape[1] else q_taken
        loss, _ = algo.operator.loss(sub, q.max(-1).values[:, :k], state, batch.returns[rows])
        total = total + loss
    if algo.assigner is not None:  # its memory-bounded path (row chunks beyond CHUNK_ELEMENTS logits)
        k = torch.zeros(batch.actions[rows].shape, dtype=torch.long)
        total = total + algo.assigner.loss(state, obs, k, torch.ones(k.shape))
    total.backward()
    for module in algo.modules.values():
        module.zero_grad(set_to_none=True)


def measure(env_name: str, method: str, repeats: int) -> dict:
    spec = make_spec(env_name)
    batch = make_batch(spec)
    algo = build_algorithm(METHODS[method], spec, "cpu", seed=0)
    n_params = sum(p.numel() for m in algo.modules.values() for p in m.parameters())
    update = median_time(lambda: algo.update(batch, mode="sync"), repeats)
    peak = peak_rss_gb()  # after the updates, before the fwd+bwd reference
    pure = median_time(lambda: forward_backward(algo, batch), repeats)
    return {
        "env": env_name,
        "method": method,
        "K": algo.n_subteams,
        "params_M": n_params / 1e6,
        "update_s": update,
        "fwd_bwd_s": pure,
        "ratio": update / pure,
        "peak_rss_GB": peak,
    }


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
    parser.add_argument("--one", nargs=2, metavar=("ENV", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeats = 3 if args.quick else args.repeats
    if args.one:  # child process of the scaling table: one measurement, JSON on stdout
        print(json.dumps(measure(args.one[0], args.one[1], repeats)))
        return

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
            cmd = [sys.executable, __file__, "--one", f"gaussian-squeeze-{n}", method]
            cmd += ["--repeats", str(repeats if n < 12800 else min(repeats, 3))]
            out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print_table(rows[-1:], memory=True, header=len(rows) == 1)


if __name__ == "__main__":
    main()
