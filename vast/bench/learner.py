"""Learner update cost: one update of a method on a fixed 10-episode batch, and the bare forward and
backward of its networks on the same batch (the overhead ratio is what the update adds on top).

The batch is rolled out once with the initial policy. Each (environment, method) can run in a fresh
process (`python -m vast.bench.learner ENV METHOD`), so its peak resident memory is its own.
Costs are also given per agent-step (update seconds / (rows × N)): a method whose cost is linear in N
by design keeps that figure flat as N grows.
"""

from __future__ import annotations

import argparse
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
from vast.common.networks import PolicyNet, TorchFeatures
from vast.common.rollout import rollout
from vast.envs.registry import make_env, make_spec
from vast.learner.algos import build_algorithm
from vast.learner.allocator import retain_freed_memory
from vast.learner.batch import build_batch

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
# Cost per agent-step grows with N by design: VASTNet gives every agent K = ηN logits (O(ηN²) per
# step); k-means compares every agent with K centroids and seeds them one draw at a time.
SUPERLINEAR = ("MetaGrad", "Spatial")


def linear_by_design(method: str) -> bool:
    return not any(word in method for word in SUPERLINEAR)


def make_batch(spec, episodes: int = 10, sparse_rows: bool = False):
    torch.manual_seed(0)
    policy = PolicyNet(spec.obs_dense_dim, spec.obs_onehot_dim, spec.n_actions)
    eps, _ = rollout(make_env(spec, episodes), policy, 0, torch.Generator().manual_seed(0))
    return build_batch(eps, spec, "cpu", 0, sparse_rows=sparse_rows)


def peak_rss_gb() -> float:
    """This process's peak resident memory. VmHWM, unlike ru_maxrss, is not inherited across fork+exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def warm_up(fn, max_calls: int = 4, settled_faults: int = 16) -> int:
    """Call `fn` until a call takes fewer than `settled_faults` page faults: steady state. (A settled
    update takes 0-1; a fault maps 4 KiB, or 2 MiB with transparent huge pages, so count faults, not bytes.)

    Why more than one call: the first update allocates Adam's lazy state next to the gradients, and
    the heap only reaches its working set a call or two later. At GaussianSqueeze-12800, QMIX's second
    update still faulted in 740 MB (3.0 s against 0.7 s once settled), which a single warm-up counted as
    a measured update. Returns the number of warm-up calls."""
    calls = 0
    while calls < max_calls:
        before = minor_faults()
        fn()
        calls += 1
        if minor_faults() - before < settled_faults:
            break
    return calls


def median_time(fn, repeats: int) -> float:
    warm_up(fn)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def forward_backward(algo, batch) -> None:
    """The networks' own cost on this batch: one forward and one backward each, nothing else."""
    rows = batch.valid
    obs = batch.obs  # the valid rows only
    state = TorchFeatures(batch.state, None, batch.state_rows)
    logits, value = algo.policy(obs)
    total = logits.sum() + value.sum()
    qnet, assigner = getattr(algo, "qnet", None), algo.modules.get("assigner")
    if qnet is not None:
        q = qnet(obs)
        q_taken = q.gather(-1, batch.actions[rows].unsqueeze(-1)).squeeze(-1)
        k = getattr(algo, "n_subteams", q_taken.shape[1])
        sub = q_taken[:, :k] if k <= q_taken.shape[1] else q_taken
        loss, _ = algo.operator.loss(sub, q.max(-1).values[:, :k], state, batch.returns[rows])
        total = total + loss
    if assigner is not None:  # its memory-bounded path (row chunks beyond CHUNK_ELEMENTS logits)
        k = torch.zeros(batch.actions[rows].shape, dtype=torch.long)
        total = total + assigner.policy_loss(state, obs, k, torch.ones(k.shape))
    total.backward()
    for module in algo.modules.values():
        module.zero_grad(set_to_none=True)


def measure(env_name: str, method: str, repeats: int, reference: bool = True) -> dict:
    """Median update time of `method` on a 10-episode batch of `env_name` (and of its bare networks)."""
    retain_freed_memory()  # as the trainer does
    spec = make_spec(env_name)
    start = time.perf_counter()
    batch = make_batch(spec)
    rows = int(batch.valid.sum())
    algo = build_algorithm(METHODS[method], spec, "cpu", seed=0)
    n_params = sum(p.numel() for m in algo.modules.values() for p in m.parameters())
    update = median_time(lambda: algo.update(batch, mode="sync"), repeats)
    peak = peak_rss_gb()  # after the updates, before the fwd+bwd reference
    pure = median_time(lambda: forward_backward(algo, batch), repeats) if reference else float("nan")
    return {
        "env": env_name,
        "method": method,
        "N": spec.n_agents,
        "K": getattr(algo, "n_subteams", spec.n_agents),
        "rows": rows,
        "params_M": n_params / 1e6,
        "update_s": update,
        "us_per_agent_step": 1e6 * update / (rows * spec.n_agents),
        "fwd_bwd_s": pure,
        "ratio": update / pure,
        "peak_rss_GB": peak,
        "threads": torch.get_num_threads(),
        "seconds": time.perf_counter() - start,
    }


def measure_in_subprocess(env_name: str, method: str, repeats: int, threads: int = 1) -> dict:
    """`measure` in a fresh interpreter: its peak RSS is this measurement's alone."""
    cmd = [sys.executable, "-m", "vast.bench.learner", env_name, method, "--repeats", str(repeats)]
    cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="one learner measurement, printed as JSON")
    p.add_argument("env")
    p.add_argument("method", choices=list(METHODS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(json.dumps(measure(args.env, args.method, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
