"""Every operator Ψ × assignment X (and every flat baseline) updates without error on every domain
that exists, with finite losses; VAST reports its division diversity."""

from __future__ import annotations

import math
from functools import cache

import pytest
import torch

from vast.common.algorithms import ASSIGNMENTS, METHODS, OPERATORS
from vast.common.config import AlgoConfig
from vast.common.networks import PolicyNet
from vast.common.rollout import rollout
from vast.envs.registry import make_env, make_spec
from vast.learner.algos import build_algorithm
from vast.learner.batch import build_batch

ENVS = ["gaussian-squeeze-40", "warehouse-4", "battle-20"]
# Every registered combination: VAST with each operator and each assignment (identity needs eta 1 and is
# covered by the flat-equivalence test), and every flat method.
COMBINATIONS = [
    ("vast", mixer, assign)
    for mixer in OPERATORS.names()
    for assign in ASSIGNMENTS.names()
    if assign != "identity"
] + [(method, "", "") for method in METHODS.names() if method != "vast"]


@cache
def _batch(env_name: str):
    spec = make_spec(env_name)
    torch.manual_seed(0)
    policy = PolicyNet(spec.obs_dense_dim, spec.obs_onehot_dim, spec.n_actions)
    episodes, _ = rollout(make_env(spec, 4), policy, 0, torch.Generator().manual_seed(0))
    return spec, build_batch(episodes, spec, "cpu", 0)


@pytest.mark.parametrize("env_name", ENVS)
@pytest.mark.parametrize(("algo", "mixer", "assign"), COMBINATIONS)
def test_update_runs_with_finite_losses(env_name, algo, mixer, assign):
    spec, batch = _batch(env_name)
    cfg = AlgoConfig(algo=algo, mixer=mixer, assign=assign, eta=0.5).normalized()
    learner = build_algorithm(cfg, spec, "cpu", seed=0)
    before = learner.policy.policy_head.weight.clone()
    for mode in ("sync", "async"):
        metrics = learner.update(batch, mode=mode)
        assert all(math.isfinite(v) for v in metrics.values()), metrics
        assert "loss/actor" in metrics and ("loss/critic" in metrics) == (algo != "il")
        assert ("loss/meta" in metrics) == (assign == "metagrad")
    assert not torch.equal(before, learner.policy.policy_head.weight)
    if algo == "vast":
        n_sub = cfg.n_subteams(spec.n_agents)
        assert 1 <= metrics["diversity"] <= batch.n_steps
        assert 1 <= metrics["subteams_active"] <= n_sub
