"""Per-agent networks skip the rows whose output is already known: all-zero observations (dead agents)
share one output in the learner, and acting runs the policy on alive agents of unfinished copies only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vast.common import sparse
from vast.common.config import AlgoConfig
from vast.common.networks import LiveRows, TorchFeatures, make_policy, masked_log_probs
from vast.common.rollout import draw_categorical, sample_actions
from vast.envs.registry import make_env, make_spec
from vast.learner.algos.assignment.metagrad import MetaGradAssignment
from vast.learner.algos.networks import LocalQNet

SPEC = make_spec("battle-20")


def _battle_like(m: int, dead_share: float, seed: int) -> torch.Tensor:
    """(m, N, D) observations ~5% nonzero, with `dead_share` of the agents' rows all zeros."""
    g = torch.Generator().manual_seed(seed)
    n, d = SPEC.n_agents, SPEC.obs_dense_dim
    x = torch.rand(m, n, d, generator=g) * (torch.rand(m, n, d, generator=g) < 0.05)
    x[..., 0] = 1.0  # every live row holds a nonzero
    x[torch.rand(m, n, generator=g) < dead_share] = 0.0
    return x


def _held(x: torch.Tensor) -> TorchFeatures:
    held = TorchFeatures(x, None).with_sparse_rows()
    assert held.sparse is not None
    return held


def _row_by_row(x: torch.Tensor) -> TorchFeatures:
    """The same rows, held sparse but with compaction declined: the per-row path."""
    plain = TorchFeatures(x, None, _held(x).sparse)
    plain._live = None
    return plain


def test_compacted_rows_are_the_live_rows_then_one_zero_row():
    x = _battle_like(30, dead_share=0.6, seed=0)
    flat = x.reshape(-1, x.shape[-1])
    index, compact = sparse.live_rows(_held(x).sparse)
    expected = torch.cat([flat[flat.ne(0).any(-1)], torch.zeros(1, flat.shape[1])])
    assert torch.equal(index, flat.ne(0).any(-1).nonzero().squeeze(1))
    assert torch.equal(compact.csr.to_dense(), expected)
    assert torch.equal(compact.csr_t.to_dense(), expected.t())
    live = _held(x).live_rows()
    assert live.n_live == index.numel() and torch.equal(live.features.dense, expected)
    assert torch.equal(live.features.dense[live.where], flat)  # every row finds its own


def test_compaction_is_declined_where_it_would_not_pay_or_not_apply():
    few_dead = _battle_like(30, dead_share=0.0, seed=1)
    few_dead[0, :2] = 0.0  # well under MIN_ZERO_ROWS of the rows
    assert _held(few_dead).live_rows() is None
    x = _battle_like(30, dead_share=0.6, seed=1)
    assert TorchFeatures(x, None).live_rows() is None  # no sparse rows held: no cheap count
    with_index = TorchFeatures(x, torch.zeros(x.shape[:2], dtype=torch.long), _held(x).sparse)
    assert LiveRows.of(with_index) is None  # a one-hot part can tell zero rows apart
    assert _held(x).reshape(-1).live_rows() is not None  # reshaping keeps them


@pytest.mark.parametrize("dead_share", [0.3, 0.9, 1.0])
def test_policy_and_local_q_on_live_rows_equal_the_row_by_row_networks(dead_share):
    torch.manual_seed(0)
    policy = make_policy(SPEC, AlgoConfig())
    qnet = LocalQNet(SPEC.obs_dense_dim, 0, SPEC.n_actions)
    x = _battle_like(40, dead_share, seed=2)
    alive = x.ne(0).any(-1)
    weights = torch.randn(*alive.shape, generator=torch.Generator().manual_seed(3))

    def run(obs):
        policy.zero_grad()
        qnet.zero_grad()
        log_probs, value = policy.log_probs_and_value(obs, alive)
        q = qnet(obs)
        ((log_probs[..., 1] + value + q.max(-1).values) * weights).sum().backward()
        grads = [p.grad.clone() for p in [*policy.parameters(), *qnet.parameters()]]
        return (log_probs.detach(), value.detach(), q.detach()), grads

    fast_out, fast_grads = run(_held(x))
    slow_out, slow_grads = run(_row_by_row(x))
    for a, b in zip(fast_out, slow_out):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    for a, b in zip(fast_grads, slow_grads):  # summed over the repeats: the same sums, another order
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())


def test_metagrad_draws_and_scores_the_same_from_live_rows():
    """VASTNet on the live rows plus one row per transition: the same sub-teams from the same uniforms,
    the same log X(k), and its gradient up to the order of the sums."""
    torch.manual_seed(0)
    assigner = MetaGradAssignment(SPEC, 5)
    x = _battle_like(40, dead_share=0.7, seed=4)
    state = TorchFeatures(torch.randn(40, SPEC.state_dim), None)
    h, where = assigner.net.live_features(state, _held(x))
    assert h.shape[0] == _held(x).live_rows().n_live + 40
    torch.testing.assert_close(
        h[where], assigner.net.features(state, _row_by_row(x)).reshape(-1, h.shape[1]), rtol=1e-6, atol=1e-6
    )
    weights = torch.randn(40 * SPEC.n_agents, generator=torch.Generator().manual_seed(5))
    results = []
    for obs in (_held(x), _row_by_row(x)):
        assigner.zero_grad()
        k, entropy = assigner.sample(state, obs, torch.Generator().manual_seed(6))
        taken = assigner._taken
        (taken * weights).sum().backward()
        results.append((k, entropy, taken.detach(), [p.grad.clone() for p in assigner.parameters()]))
    (k1, e1, t1, g1), (k2, e2, t2, g2) = results
    assert torch.equal(k1, k2)
    torch.testing.assert_close(t1, t2, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(e1, e2, rtol=1e-6, atol=0)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())


def test_acting_runs_the_policy_on_needed_rows_and_draws_what_the_full_forward_draws():
    env = make_env(SPEC, 3)
    env.reset(11)
    n = SPEC.n_agents
    env.set_world(0, agent_hp=np.where(np.arange(n) % 3 == 0, 0.0, 3.0))  # a third of copy 0 dead
    env.set_world(1, agent_hp=np.zeros(n))  # copy 1 all dead
    active = np.array([True, True, False])  # copy 2 finished: its step is not recorded
    torch.manual_seed(1)
    policy = make_policy(SPEC, AlgoConfig())

    actions, logp, alive = sample_actions(policy, env, torch.Generator().manual_seed(7), active=active)

    obs = TorchFeatures.from_numpy(env.observe())
    with torch.inference_mode():
        full = masked_log_probs(policy(obs)[0], torch.from_numpy(alive)).reshape(-1, SPEC.n_actions)
        expected = draw_categorical(full.exp(), torch.Generator().manual_seed(7))
    needed = (alive & active[:, None]).reshape(-1)
    assert 0 < needed.sum() < needed.size
    recorded = needed | ~alive.reshape(-1)  # a finished copy's draws are thrown away
    assert np.array_equal(actions.reshape(-1)[recorded], expected.numpy()[recorded])
    taken = full.gather(1, expected.unsqueeze(1)).squeeze(1).numpy()
    np.testing.assert_allclose(logp.reshape(-1)[needed], taken[needed], rtol=1e-6)
    uniform = full[n, 0].item()  # copy 1's first agent is dead: `mask_dead`'s −log A
    assert np.all(logp.reshape(-1)[~needed] == uniform)


@pytest.mark.parametrize("step", [64, 100, 1300, 5000])  # chunks that split, end on, and hold all rows
def test_chunked_log_prob_over_distinct_rows_equals_it_over_every_row(step):
    """Large M·N·K: the head runs once per distinct row of h, chunk by chunk, with the same draws,
    log-probabilities and entropy as the chunked path over every agent's row, and the same gradients
    up to the order of the sums."""
    from vast.learner.algos.assignment.metagrad import ChunkedTakenLogProb, DistinctChunkedTakenLogProb

    g = torch.Generator().manual_seed(0)
    rows, distinct, k_ways = 5000, 1300, 7
    h = torch.randn(distinct, 16, generator=g, requires_grad=True)
    weight = torch.randn(k_ways, 16, generator=g, requires_grad=True)
    bias = torch.randn(k_ways, generator=g, requires_grad=True)
    where = torch.randint(0, distinct, (rows,), generator=g)
    where[:2000] = distinct - 1 - torch.arange(2000) % 50  # many agents share a few rows
    u, weights = torch.rand(rows, 1, generator=g), torch.randn(rows, generator=g)

    def grads(taken):
        for x in (h, weight, bias):
            x.grad = None
        (taken * weights).sum().backward()
        return [x.grad.clone() for x in (h, weight, bias)]

    taken, k, entropy = DistinctChunkedTakenLogProb.apply(h, weight, bias, where, None, u, step)
    fast = grads(taken)
    every_taken, every_k, every_entropy = ChunkedTakenLogProb.apply(
        h.index_select(0, where), weight, bias, None, u, step
    )
    slow = grads(every_taken)
    assert torch.equal(k, every_k)
    torch.testing.assert_close(taken, every_taken, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(entropy, every_entropy, rtol=1e-5, atol=0)
    scored, _, _ = DistinctChunkedTakenLogProb.apply(h, weight, bias, where, every_k, None, step)
    torch.testing.assert_close(scored, every_taken, rtol=1e-6, atol=1e-6)
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())


def test_metagrad_on_live_rows_draws_the_same_in_chunks(monkeypatch):
    """The chunked path (large M·N·K) over live rows draws and scores as the single pass does."""
    from vast.learner.algos.assignment import metagrad

    torch.manual_seed(0)
    assigner = MetaGradAssignment(SPEC, 5)
    x = _battle_like(40, dead_share=0.7, seed=8)
    state = TorchFeatures(torch.randn(40, SPEC.state_dim), None)
    k_one, _ = assigner.sample(state, _held(x), torch.Generator().manual_seed(9))
    taken_one = assigner._taken.detach()
    monkeypatch.setattr(metagrad, "CHUNK_ELEMENTS", 64)  # chunks of 12 rows
    k_chunks, _ = assigner.sample(state, _held(x), torch.Generator().manual_seed(9))
    assert torch.equal(k_one, k_chunks)
    torch.testing.assert_close(assigner._taken.detach(), taken_one, rtol=1e-6, atol=1e-6)
    advantage = torch.randn(40, SPEC.n_agents)
    assigner._taken = None  # score again from k, chunked
    torch.testing.assert_close(
        assigner.policy_loss(state, _held(x), k_chunks, advantage),
        metagrad.meta_loss(taken_one, advantage.reshape(-1)),
        rtol=1e-6,
        atol=1e-7,
    )
