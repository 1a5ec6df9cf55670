"""Every operator Ψ × assignment X (and every flat baseline) updates without error on every domain
that exists, with finite losses; VAST reports its division diversity."""

from __future__ import annotations

import importlib.util
import math
from functools import cache

import pytest
import torch

from actors.rollout import rollout
from common.config import AlgoConfig
from common.networks import PolicyNet
from envs.registry import FAMILIES, make_env, make_spec, parse_name
from learner.algos import build_algorithm
from learner.batch import build_batch

ENVS = ["gaussian-squeeze-40", "warehouse-4", "battle-20"]
METHODS = [
    ("vast", mixer, assign)
    for mixer in ("il", "vdn", "qmix", "qtran")
    for assign in ("random", "fixed", "spatial", "metagrad")
] + [(flat, flat, "identity") for flat in ("il", "vdn", "qmix", "qtran")]


def _require(env_name: str) -> None:
    family, _ = parse_name(env_name)
    if importlib.util.find_spec(FAMILIES[family]) is None:
        pytest.skip(f"{FAMILIES[family]} does not exist in this tree yet")


@cache
def _batch(env_name: str):
    spec = make_spec(env_name)
    torch.manual_seed(0)
    policy = PolicyNet(spec.obs_dense_dim, spec.obs_onehot_dim, spec.n_actions)
    episodes, _ = rollout(make_env(spec, 4), policy, 0, torch.Generator().manual_seed(0))
    return spec, build_batch(episodes, spec, "cpu", 0)


@pytest.mark.parametrize("env_name", ENVS)
@pytest.mark.parametrize(("algo", "mixer", "assign"), METHODS)
def test_update_runs_with_finite_losses(env_name, algo, mixer, assign):
    _require(env_name)
    spec, batch = _batch(env_name)
    cfg = AlgoConfig(algo=algo, mixer=mixer, assign=assign, eta=0.5)
    learner = build_algorithm(cfg, spec, "cpu", seed=0)
    before = learner.policy.policy_head.weight.clone()
    for mode in ("sync", "async"):
        metrics = learner.update(batch, mode=mode, max_policy_lag=4)
        assert all(math.isfinite(v) for v in metrics.values()), metrics
        assert "loss/actor" in metrics and ("loss/critic" in metrics) == (algo != "il")
        assert ("loss/meta" in metrics) == (assign == "metagrad")
    assert not torch.equal(before, learner.policy.policy_head.weight)
    if algo == "vast":
        n_sub = cfg.n_subteams(spec.n_agents)
        assert 1 <= metrics["diversity"] <= batch.n_steps
        assert 1 <= metrics["subteams_active"] <= n_sub
