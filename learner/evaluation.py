"""The learner's evaluation episodes, played on a worker thread while the trainer goes on.

Why a thread: in a sync run the actors sit idle while the learner updates, and the evaluation of the
weights just published (10 episodes by default, the reference's protocol) used to run on the learner's
one core after every update, on the critical path. Played on a worker thread, it overlaps the wait for
the next batch and the next update, on the core the idle actors leave free. The numbers do not change:
the evaluation plays a snapshot of the policy taken when it is submitted, with its own environment
copies and seeds derived from (run seed, version) only, and single-threaded torch ops give the same
results on any thread.
"""

from __future__ import annotations

import copy
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from vast.common.cpu_threads import run_on_one_thread
from vast.common.rollout import rollout
from vast.common.seeding import derive_seed
from vast.envs.base import EnvSpec
from vast.envs.registry import make_env

EVAL_STREAM = 0x7EA1  # seed-derivation tag that keeps evaluation episodes apart from training ones
GREEDY_EVAL_STREAM = 0x7EA2  # the greedy evaluation's own episodes (its own env seeds)


@dataclass
class Evaluation:
    metric: float  # mean domain metric of the stochastic policy (the reference's protocol)
    greedy_metric: float | None  # of its argmax actions, when asked for
    env_steps: int  # copy-steps of the stochastic evaluation: what throughput counts besides training
    greedy_env_steps: int  # copy-steps of the greedy one (0 when not asked for)
    seconds: float  # wall time the worker spent playing


class Evaluator:
    """Plays `episodes` evaluation episodes per submitted version, one version at a time, in order."""

    def __init__(self, spec: EnvSpec, episodes: int, seed: int, greedy: bool):
        self.spec = spec
        self.episodes = episodes
        self.seed = seed
        self.greedy = greedy
        self._env = None  # built once, reset by every rollout
        # its torch kernels on its own thread: a second OpenMP team would slow the update's (see cpu_threads)
        self._worker = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="vast-eval",
            initializer=run_on_one_thread,
        )

    def submit(self, policy: torch.nn.Module, version: int) -> Future[Evaluation]:
        """Evaluate the weights `policy` holds now (a CPU snapshot is taken before returning)."""
        snapshot = copy.deepcopy(policy).cpu().eval()
        return self._worker.submit(self._evaluate, snapshot, version)

    def _evaluate(self, policy: torch.nn.Module, version: int) -> Evaluation:
        start = time.perf_counter()
        metric, steps = self._play(policy, version, greedy=False)
        greedy, greedy_steps = self._play(policy, version, greedy=True) if self.greedy else (None, 0)
        return Evaluation(metric, greedy, steps, greedy_steps, time.perf_counter() - start)

    def _play(self, policy: torch.nn.Module, version: int, greedy: bool) -> tuple[float, int]:
        if self._env is None:
            self._env = make_env(self.spec, self.episodes)
        seed = derive_seed(self.seed, version, GREEDY_EVAL_STREAM if greedy else EVAL_STREAM)
        played, stats = rollout(self._env, policy, seed, torch.Generator().manual_seed(seed), greedy=greedy)
        return float(np.mean([ep.header["metric"] for ep in played])), stats.env_steps

    def close(self) -> None:
        self._worker.shutdown(wait=True)
