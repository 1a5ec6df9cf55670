"""Fixed-seed learning on GaussianSqueeze-200 with the reference protocol, driven in-process:
10 training episodes -> one sync update -> 10 stochastic evaluation episodes (mean domain metric)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actors.rollout import rollout
from common.config import AlgoConfig
from envs.registry import make_env, make_spec
from learner.algos import build_algorithm
from learner.batch import build_batch

TARGET = 380.0  # the optimum is 423.03; a uniform policy scores 1.74
MAX_UPDATES = 300


def updates_to_reach(cfg: AlgoConfig, seed: int) -> tuple[int | None, list[float]]:
    spec = make_spec("gaussian-squeeze-200")
    algo = build_algorithm(cfg, spec, "cpu", seed)
    env = make_env(spec, 10)
    train_gen, eval_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    curve = []
    for update in range(1, MAX_UPDATES + 1):
        episodes, _ = rollout(env, algo.policy, update, train_gen, {"policy_version": update - 1})
        algo.update(build_batch(episodes, spec, "cpu", update - 1), mode="sync")
        evaluation, _ = rollout(env, algo.policy, -update, eval_gen)
        curve.append(float(np.mean([ep.header["metric"] for ep in evaluation])))
        if curve[-1] >= TARGET:
            return update, curve
    return None, curve


@pytest.mark.parametrize(
    "cfg",
    [
        AlgoConfig(algo="vast", mixer="qtran", assign="metagrad", eta=0.25),
        AlgoConfig(algo="qtran", mixer="qtran", assign="identity"),
    ],
    ids=["vast-qtran-metagrad-eta0.25", "qtran"],
)
def test_reaches_380_on_gaussian_squeeze_200(cfg):
    needed, curve = updates_to_reach(cfg, seed=0)
    print(f"{cfg.algo}/{cfg.mixer}/{cfg.assign}: {needed} updates; last evals {curve[-5:]}")
    assert needed is not None, f"best evaluation {max(curve):.1f} after {MAX_UPDATES} updates"
