"""The per-agent networks on one-hot-only observations: evaluated once per index, gathered per agent."""

from __future__ import annotations

import torch

from vast.common.config import AlgoConfig
from vast.common.networks import TorchFeatures, make_policy, masked_log_probs, per_index
from vast.envs.registry import make_spec
from vast.learner.algos.networks import LocalQNet

N = 40  # GaussianSqueeze-40: an observation is the agent's index, nothing else


def _index_obs(copies: int, seed: int = 0) -> TorchFeatures:
    g = torch.Generator().manual_seed(seed)
    rows = torch.stack([torch.randperm(N, generator=g) for _ in range(copies)])  # any order of agents
    return TorchFeatures(None, rows)


def _networks():
    spec = make_spec(f"gaussian-squeeze-{N}")
    assert spec.obs_dense_dim == 0 and spec.obs_onehot_dim == N
    torch.manual_seed(3)
    policy = make_policy(spec, AlgoConfig())
    qnet = LocalQNet(0, N, spec.n_actions)
    return policy, qnet


def _row_by_row(network, obs: TorchFeatures):
    h = network.trunk(obs)
    if hasattr(network, "policy_head"):
        return network.policy_head(h), network.value_head(h).squeeze(-1)
    return network.head(h)


def test_forward_is_bitwise_the_row_by_row_forward():
    policy, qnet = _networks()
    obs = _index_obs(copies=7)
    logits, value = policy(obs)
    ref_logits, ref_value = _row_by_row(policy, obs)
    assert logits.shape == (7, N, ref_logits.shape[-1]) and value.shape == (7, N)
    assert torch.equal(logits, ref_logits) and torch.equal(value, ref_value)
    assert torch.equal(qnet(obs), _row_by_row(qnet, obs))


def test_gradients_are_the_row_by_row_gradients():
    """Summed over the repeats of each index instead of row by row: equal up to float rounding."""
    policy, _ = _networks()
    obs = _index_obs(copies=9, seed=1)
    weights = torch.randn(9, N, generator=torch.Generator().manual_seed(2))

    def grads(forward):
        policy.zero_grad()
        logits, value = forward(obs)
        (torch.log_softmax(logits, -1)[..., 0] * weights + value * weights).sum().backward()
        return [p.grad.clone() for p in policy.parameters()]

    fast = grads(policy)
    slow = grads(lambda o: _row_by_row(policy, o))
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert a.abs().sum() > 0


def test_the_trunk_sees_each_index_once():
    policy, _ = _networks()
    seen = []
    policy.trunk.input.register_forward_hook(lambda m, inp, out: seen.append(out.shape[0]))
    policy(_index_obs(copies=25))
    assert seen == [N]  # 40 rows of work instead of 25 x 40


def test_row_by_row_when_it_would_not_save_work():
    policy, _ = _networks()
    assert per_index(policy, _index_obs(copies=1)) is None  # no more rows than indices
    dense_spec = make_spec("warehouse-16")
    dense = make_policy(dense_spec, AlgoConfig())
    obs = TorchFeatures(torch.zeros(50, 16, dense_spec.obs_dense_dim), None)
    assert per_index(dense, obs) is None
    assert dense(obs)[0].shape == (50, 16, dense_spec.n_actions)


def test_log_probs_are_the_masked_softmax_of_the_logits():
    """Taken per index (one-hot) or per row (dense): bitwise `masked_log_probs` of `forward`'s logits."""
    policy, _ = _networks()
    dense_spec = make_spec("warehouse-16")
    dense = make_policy(dense_spec, AlgoConfig())
    cases = [
        (policy, _index_obs(copies=6)),
        (dense, TorchFeatures(torch.randn(6, 16, dense_spec.obs_dense_dim), None)),
    ]
    for network, obs in cases:
        alive = torch.rand(obs.lead_shape, generator=torch.Generator().manual_seed(4)) > 0.3
        logits, value = network(obs)
        expected = masked_log_probs(logits, alive)
        log_probs, value_too = network.log_probs_and_value(obs, alive)
        assert torch.equal(log_probs, expected) and torch.equal(value_too, value)
        assert torch.equal(network.act_log_probs(obs, alive), expected)
        assert not alive.all() and torch.allclose(log_probs[~alive].exp().sum(-1), torch.tensor(1.0))
