"""The update step: losses wired as the reference does, flat = VAST(K = N, identity), reproducibility,
checkpoints, async handling, and the batched building blocks (sub-team sums, assignments, VASTNet)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch

from vast.common.config import AlgoConfig
from vast.common.networks import TorchFeatures, masked_log_probs
from vast.common.rollout import rollout
from vast.envs.registry import make_env, make_spec
from vast.learner.algos import assignment as asgn
from vast.learner.algos import build_algorithm
from vast.learner.algos.actor_loss import importance_weights, reinforce_loss, value_loss, vff_advantage
from vast.learner.algos.assignment import metagrad as asg
from vast.learner.algos.assignment import random_draw as rnd
from vast.learner.algos.assignment import spatial
from vast.learner.algos.assignment.metagrad import meta_loss
from vast.learner.batch import build_batch

GS = "gaussian-squeeze-200"


def make_batch(algo, spec, seed: int = 0, episodes: int = 10, version: int = 0):
    eps, _ = rollout(make_env(spec, episodes), algo.policy, seed, torch.Generator().manual_seed(seed))
    for ep in eps:
        ep.header["policy_version"] = version
    return build_batch(eps, spec, "cpu", version)


def params(algo) -> dict[str, torch.Tensor]:
    return {f"{m}.{k}": v.clone() for m, mod in algo.modules.items() for k, v in mod.state_dict().items()}


def algo_for(spec, seed=0, **kw):
    return build_algorithm(AlgoConfig(**kw), spec, "cpu", seed)


# -- pure losses, hand-computed ---------------------------------------------------------------------


def test_reinforce_loss_masks_dead_agents_and_weights_terms():
    logp = torch.tensor([[-1.0, -2.0], [-0.5, -3.0]])
    adv = torch.tensor([[2.0, 1.0], [4.0, 10.0]])
    alive = torch.tensor([[True, False], [True, True]])
    # -(−1·2 − 0.5·4 − 3·10) / 3: the dead agent's (−2·1) term is skipped
    assert reinforce_loss(logp, adv, alive).item() == pytest.approx(34 / 3)
    weight = torch.tensor([[0.5, 1.0], [1.0, 0.2]])
    assert reinforce_loss(logp, adv, alive, weight).item() == pytest.approx(3.0)


def test_value_loss_and_advantages_hand_computed():
    v = torch.tensor([[1.0, 5.0]])
    alive = torch.tensor([[True, False]])
    assert value_loss(v, torch.tensor([3.0]), alive).item() == pytest.approx(4.0)
    probs = torch.tensor([[[0.25, 0.75], [1.0, 0.0]]])
    q = torch.tensor([[[4.0, 8.0], [2.0, 100.0]]])
    # G − Σ_a π(a)Q(a): 10 − (1 + 6) = 3 and 10 − 2 = 8
    assert vff_advantage(torch.tensor([10.0]), probs, q).tolist() == [[3.0, 8.0]]
    w = importance_weights(torch.log(torch.tensor([0.2, 0.6])), torch.log(torch.tensor([0.4, 0.3])), 1.0)
    assert w.tolist() == pytest.approx([0.5, 1.0])


def test_meta_loss_hand_computed():
    assert meta_loss(torch.tensor([[-1.0, -2.0]]), torch.tensor([[3.0, -1.0]])).item() == pytest.approx(0.5)


# -- the update wires them like the reference ---------------------------------------------------------


def test_actor_and_meta_losses_use_old_policy_and_just_updated_q_net():
    spec = make_spec(GS)
    algo = algo_for(spec, seed=1, algo="vast", mixer="qtran", assign="metagrad", eta=0.25)
    batch = make_batch(algo, spec, seed=1)
    batch.alive[:, :, :7] = False  # masking must drop these agents from the actor loss
    policy0, assigner0 = copy.deepcopy(algo.policy), copy.deepcopy(algo.assignment)
    gen = torch.Generator()
    gen.set_state(algo.generator.get_state())
    obs, state = batch.obs.reshape(10, spec.n_agents), TorchFeatures(batch.state.reshape(10, -1), None)
    alive, actions, g = batch.alive.reshape(10, -1), batch.actions.reshape(10, -1), batch.returns.reshape(10)

    metrics = algo.update(batch)

    with torch.no_grad():
        logp = masked_log_probs(policy0(obs)[0], alive)
        adv = vff_advantage(g, logp.exp(), algo.qnet(obs))  # the critic after this update's critic step
        taken = logp.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        expected_actor = -(taken * adv)[alive].mean()
        k, _ = assigner0.sample(state, obs, gen)  # the same draw the update made
        logx = assigner0.net(state, obs).gather(-1, k.unsqueeze(-1)).squeeze(-1)
        expected_meta = -(logx * adv).mean()  # every agent, dead or alive, as the reference
    assert metrics["loss/actor"] == pytest.approx(expected_actor.item(), rel=1e-5)
    assert metrics["loss/meta"] == pytest.approx(expected_meta.item(), rel=1e-5)


def test_critic_loss_uses_subteam_sums_of_the_assignment():
    spec = make_spec("gaussian-squeeze-12")
    algo = algo_for(spec, seed=2, algo="vast", mixer="vdn", assign="fixed", eta=0.25)  # K = 3
    batch = make_batch(algo, spec, seed=2)
    qnet0 = copy.deepcopy(algo.qnet)
    metrics = algo.update(batch)
    with torch.no_grad():
        q = qnet0(batch.obs.reshape(10, 12)).gather(-1, batch.actions.reshape(10, 12, 1)).squeeze(-1)
        teams = torch.stack([q[:, [i for i in range(12) if i % 3 == j]].sum(1) for j in range(3)], 1)
        expected = ((teams.sum(1) - batch.returns.reshape(10)) ** 2).mean()
    assert metrics["loss/critic"] == pytest.approx(expected.item(), rel=1e-5)
    assert metrics["diversity"] == 1.0 and metrics["subteams_active"] == 3.0


def test_flat_il_is_an_actor_critic_with_a_value_baseline():
    spec = make_spec("gaussian-squeeze-12")
    algo = algo_for(spec, seed=3, algo="il")
    assert not hasattr(algo, "qnet") and set(algo.optimizers) == {"actor"}
    batch = make_batch(algo, spec, seed=3)
    policy0 = copy.deepcopy(algo.policy)
    metrics = algo.update(batch)
    with torch.no_grad():
        logits, v = policy0(batch.obs.reshape(10, 12))
        g = batch.returns.reshape(10, 1)
        taken = torch.log_softmax(logits, -1).gather(-1, batch.actions.reshape(10, 12, 1)).squeeze(-1)
        expected = -(taken * (g - v)).mean() + ((v - g) ** 2).mean()
    assert metrics["loss/actor"] == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("mixer", ["vdn", "qmix", "qtran", "independent"])
def test_vast_with_k_equal_n_and_identity_is_the_flat_method(mixer):
    spec = make_spec("gaussian-squeeze-16")
    flat_algo = "vdn" if mixer == "independent" else mixer  # VAST-IL has no flat twin: compare fixed
    vast = algo_for(spec, seed=4, algo="vast", mixer=mixer, assign="identity", eta=1.0)
    other = (
        algo_for(spec, seed=4, algo="vast", mixer="independent", assign="fixed", eta=1.0)
        if mixer == "independent"
        else algo_for(spec, seed=4, algo=flat_algo, mixer=flat_algo, assign="identity")
    )
    assert vast.n_subteams == other.n_subteams == 16
    for step in range(3):
        batch = make_batch(vast, spec, seed=step)
        m1, m2 = vast.update(batch), other.update(batch)
        assert m1["loss/critic"] == m2["loss/critic"] and m1["loss/actor"] == m2["loss/actor"]
    p1, p2 = params(vast), params(other)
    assert p1.keys() == p2.keys()
    assert all(torch.equal(p1[key], p2[key]) for key in p1)


@pytest.mark.parametrize("assign", ["metagrad", "random", "spatial"])
def test_sync_update_is_bit_reproducible(assign):
    spec = make_spec("gaussian-squeeze-40")
    runs = []
    for _ in range(2):
        algo = algo_for(spec, seed=5, algo="vast", mixer="qtran", assign=assign, eta=0.25)
        history = [algo.update(make_batch(algo, spec, seed=s)) for s in range(3)]
        runs.append((params(algo), history))
    (p1, h1), (p2, h2) = runs
    assert h1 == h2
    assert all(torch.equal(p1[key], p2[key]) for key in p1)
    other = algo_for(spec, seed=6, algo="vast", mixer="qtran", assign=assign, eta=0.25)
    assert not torch.equal(params(other)["policy.policy_head.weight"], p1["policy.policy_head.weight"])


def test_state_dict_round_trip_continues_identically():
    spec = make_spec("gaussian-squeeze-40")
    kw = {"algo": "vast", "mixer": "qmix", "assign": "metagrad", "eta": 0.5}
    a = algo_for(spec, seed=7, **kw)
    for s in range(2):
        a.update(make_batch(a, spec, seed=s))
    b = algo_for(spec, seed=99, **kw)
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    batch = make_batch(a, spec, seed=10)
    assert a.update(batch) == b.update(batch)
    pa, pb = params(a), params(b)
    assert all(torch.equal(pa[key], pb[key]) for key in pa)
    assert a.optimizers["meta"].state_dict()["state"][0]["step"] == 3


def test_async_weights_the_policy_gradient_by_clipped_importance_ratios():
    spec = make_spec("gaussian-squeeze-40")
    kw = {"algo": "qtran", "mixer": "qtran", "assign": "identity"}
    sync_algo, async_algo = algo_for(spec, seed=8, **kw), algo_for(spec, seed=8, **kw)
    batch = make_batch(sync_algo, spec, seed=8, version=5)
    with torch.no_grad():
        logits, _ = sync_algo.policy(batch.obs.reshape(*batch.alive.shape))  # every row valid
        cur = masked_log_probs(logits, batch.alive).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
    m_sync = sync_algo.update(batch, mode="sync")
    # Behaviour twice as likely as the current policy: every ratio is 0.5, under the clip of 1.
    batch.behaviour_logp = cur + torch.log(torch.tensor(2.0))
    m_async = async_algo.update(batch, mode="async")
    assert m_async["importance_weight_mean"] == pytest.approx(0.5, rel=1e-5)
    assert m_async["loss/policy"] == pytest.approx(0.5 * m_sync["loss/policy"], rel=1e-4)
    assert m_async["loss/critic"] == m_sync["loss/critic"]


def test_ppo_option_matches_reinforce_gradient_in_sync_mode():
    spec = make_spec("gaussian-squeeze-40")
    a = algo_for(spec, seed=9, algo="qmix", mixer="qmix", assign="identity")
    b = algo_for(spec, seed=9, algo="qmix", mixer="qmix", assign="identity", actor_loss="ppo")
    batch = make_batch(a, spec, seed=9)
    ma, mb = a.update(batch), b.update(batch)
    assert ma["grad_norm/actor"] == pytest.approx(mb["grad_norm/actor"], rel=1e-5)  # ratio 1 at the only step


# -- batched building blocks ------------------------------------------------------------------------------


def test_subteam_sums_is_one_scatter_and_empty_teams_are_zero():
    values = torch.tensor([[1.0, 2.0, 4.0, 8.0]])
    k = torch.tensor([[2, 0, 2, 0]])
    assert asgn.subteam_sums(values, k, 4).tolist() == [[10.0, 0.0, 5.0, 0.0]]
    stacked = asgn.subteam_sums(torch.stack([values, -values]), k, 3)
    assert stacked.tolist() == [[[10.0, 0.0, 5.0]], [[-10.0, 0.0, -5.0]]]


def test_random_assignment_ranges_over_alive_agents():
    gen = torch.Generator().manual_seed(0)
    alive = torch.ones(200, 10, dtype=torch.bool)
    alive[:100, 3:] = False  # 3 alive agents in these rows
    k = rnd.random_assignment(alive, 5, gen)
    assert k[:100, :3].max() == 2 and k[:100, :3].min() == 0  # U{0 .. min(K, #alive) - 1}
    assert k[:100, 3:].tolist() == [[i % 5 for i in range(3, 10)]] * 100  # dead: i mod K
    assert set(k[100:].unique().tolist()) == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("kmeans", [spatial.batched_kmeans, spatial.batched_kmeans_torch])
def test_batched_kmeans_recovers_separated_blobs_in_every_row(kmeans):
    gen = torch.Generator().manual_seed(1)
    centres = torch.tensor([[0.0, 0.0], [30.0, 0.0], [0.0, 30.0]])
    truth = torch.arange(3).repeat_interleave(8)  # 24 points, 8 per blob
    rows = []
    for _ in range(16):
        perm = torch.randperm(24, generator=gen)
        rows.append((centres[truth[perm]] + torch.randn(24, 2, generator=gen), truth[perm]))
    points = torch.stack([p for p, _ in rows])
    labels = kmeans(points, torch.ones(16, 24, dtype=torch.bool), 3, gen)
    for (_, t), lab in zip(rows, labels):
        pairs = set(zip(t.tolist(), lab.tolist()))
        assert len(pairs) == 3  # a bijection between blobs and clusters


def grid_rows(seed: int, m: int = 120, n: int = 300):
    """Integer (x, y) like Battle's and Warehouse's, with the edge rows: none alive, one, fewer than K."""
    gen = torch.Generator().manual_seed(seed)
    points = torch.randint(0, 40, (m, n, 2), generator=gen).float()
    alive = torch.rand(m, n, generator=gen) < 0.5
    alive[0] = False
    alive[1] = False
    alive[1, 7] = True
    alive[2] = False
    alive[2, :10] = True
    return points, alive


def within_cluster_ss(points: torch.Tensor, alive: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    weights = alive.double().unsqueeze(-1)
    onehot = torch.nn.functional.one_hot(labels, k).double() * weights  # (M, N, K) of alive points
    counts = onehot.sum(1)  # (M, K)
    means = (onehot.transpose(1, 2) @ points.double()) / counts.clamp(min=1).unsqueeze(-1)
    spread = points.double() - means.gather(1, labels.unsqueeze(-1).expand(*labels.shape, 2))
    return float(((spread**2).sum(-1) * alive).sum())


def test_compiled_kmeans_seeds_as_the_tensor_ops_bit_for_bit_and_draws_the_same_uniforms():
    points, alive = grid_rows(3)
    gen_a, gen_b = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    seeded = spatial.batched_kmeans(points, alive, 60, gen_a, iters=0)  # nearest seed only
    reference = spatial.batched_kmeans_torch(points, alive, 60, gen_b, iters=0)
    assert torch.equal(seeded[alive], reference[alive])
    assert torch.equal(gen_a.get_state(), gen_b.get_state())  # later draws of the update are unchanged


def test_compiled_kmeans_agrees_with_the_tensor_ops_up_to_near_ties():
    points, alive = grid_rows(5)
    compiled = spatial.batched_kmeans(points, alive, 60, torch.Generator().manual_seed(6))
    tensor = spatial.batched_kmeans_torch(points, alive, 60, torch.Generator().manual_seed(6))
    assert (compiled == tensor)[alive].double().mean() > 0.999
    ss_compiled = within_cluster_ss(points, alive, compiled, 60)
    ss_tensor = within_cluster_ss(points, alive, tensor, 60)
    assert abs(ss_compiled - ss_tensor) <= 0.01 * ss_tensor
    used = torch.tensor([len(lab[mask].unique()) for lab, mask in zip(compiled, alive)])
    assert (used <= alive.sum(1).clamp(max=60)).all()


def test_spatial_assignment_uses_min_k_alive_clusters_and_fixed_for_dead():
    gen = torch.Generator().manual_seed(2)
    pos = torch.tensor([[[0, 0], [10, 10], [0, 1], [-1, -1]]], dtype=torch.float32)
    alive = torch.tensor([[True, True, True, False]])
    k = spatial.spatial_assignment(pos, alive, n_subteams=2, n_clusters=2, generator=gen)
    assert k[0, 0] == k[0, 2] != k[0, 1] and k[0, 3] == 3 % 2
    few = spatial.spatial_assignment(pos, torch.tensor([[True, False, False, False]]), 2, 2, gen)
    assert few[0, 0] == 0  # one alive agent -> one cluster


def test_division_diversity_counts_distinct_active_sets():
    k = torch.tensor([[0, 0, 1], [1, 0, 1], [2, 2, 2], [0, 1, 1]])
    diversity, active = asgn.division_diversity(k, 3, stride=1)
    assert diversity.item() == 2.0  # {0, 1} (three times) and {2}
    assert active.item() == pytest.approx((2 + 2 + 1 + 2) / 4)
    assert asgn.division_diversity(k, 3, stride=2)[0].item() == 2.0  # rows 0 and 2


def test_vastnet_fast_features_equal_the_with_prefix_construction():
    torch.manual_seed(0)
    net = asg.VASTNet(5, 3, 7, 4)
    state = TorchFeatures(torch.randn(6, 5), None)
    obs = TorchFeatures(torch.randn(6, 7, 3), torch.randint(0, 7, (6, 7)))
    assert torch.allclose(net.features(state, obs), net.reference_features(state, obs), atol=1e-6)
    onehot_only = asg.VASTNet(5, 0, 7, 4)
    obs = TorchFeatures(None, torch.randint(0, 7, (6, 7)))
    assert torch.allclose(
        onehot_only.features(state, obs), onehot_only.reference_features(state, obs), atol=1e-6
    )


def test_metagrad_chunked_path_equals_single_chunk(monkeypatch):
    torch.manual_seed(0)
    assigner = asg.MetaGradAssignment(SimpleNamespace(state_dim=4, obs_dense_dim=0, obs_onehot_dim=30), 8)
    state, obs = TorchFeatures(torch.randn(5, 4), None), TorchFeatures(None, torch.arange(30).expand(5, 30))
    adv = torch.randn(5, 30)

    def run():
        k, ent = assigner.sample(state, obs, torch.Generator().manual_seed(3))
        assigner.zero_grad()
        loss = assigner.policy_loss(state, obs, k, adv)
        loss.backward()
        return k, ent, loss.detach(), [p.grad.clone() for p in assigner.parameters()]

    k1, e1, l1, g1 = run()
    monkeypatch.setattr(asg, "CHUNK_ELEMENTS", 8 * 16)  # 16 rows per chunk: 10 chunks of the 150 rows
    k2, e2, l2, g2 = run()
    assert torch.equal(k1, k2)
    assert torch.allclose(e1, e2) and torch.allclose(l1, l2, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g1, g2))


def test_global_rng_is_left_untouched_and_init_depends_on_seed_only():
    spec = make_spec("gaussian-squeeze-12")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = algo_for(spec, seed=1, algo="vast")
    assert torch.equal(torch.rand(3), expected)
    b = algo_for(spec, seed=1, algo="vast")
    assert all(torch.equal(x, y) for x, y in zip(params(a).values(), params(b).values()))


def _grad_norm(params) -> float:
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None])))


def test_clipping_per_optimiser_defaults_to_the_critic_only():
    """The reference clips only the critic (norm 1); its actor and MetaGrad clip calls see no parameters.
    The grad_norm metrics are the norms before clipping; the gradients the step used stay in .grad."""
    spec = make_spec(GS)
    kw = dict(algo="vast", mixer="qtran", assign="metagrad", eta=0.25)
    default = algo_for(spec, seed=3, **kw)
    out = default.update(make_batch(default, spec, seed=3))
    assert (
        out["grad_norm/critic"] > 1
        and _grad_norm([*default.qnet.parameters(), *default.operator.parameters()]) <= 1.0 + 1e-5
    )
    assert _grad_norm(default.policy.parameters()) == pytest.approx(out["grad_norm/actor"], rel=1e-5)
    assert _grad_norm(default.assignment.parameters()) == pytest.approx(out["grad_norm/meta"], rel=1e-5)
    clipped = algo_for(spec, seed=3, clip_actor=0.01, clip_meta=0.01, clip_critic=0.0, **kw)
    out2 = clipped.update(make_batch(clipped, spec, seed=3))
    assert out2["grad_norm/actor"] == pytest.approx(out["grad_norm/actor"], rel=1e-6)  # still pre-clip
    assert out2["grad_norm/actor"] > 0.01 and _grad_norm(clipped.policy.parameters()) == pytest.approx(
        0.01, rel=1e-4
    )
    assert _grad_norm(clipped.assignment.parameters()) == pytest.approx(0.01, rel=1e-4)
    unclipped = _grad_norm([*clipped.qnet.parameters(), *clipped.operator.parameters()])
    assert unclipped == pytest.approx(out2["grad_norm/critic"], rel=1e-5) and unclipped > 1


@pytest.mark.parametrize("clip, unbiased", [(10.0, True), (1.0, False)])
def test_importance_weighted_score_has_zero_mean_only_without_truncation(clip, unbiased):
    """Why async truncates at c = 10, not 1: with a constant advantage (the reference's Â = G − Σπ·Q is far
    from centred) the expected policy gradient under the behaviour policy μ must vanish, as it does
    on-policy. Exact expectation over the 6 actions, no sampling."""
    mu = torch.tensor([0.30, 0.25, 0.20, 0.10, 0.10, 0.05])
    logits = torch.log(mu * torch.tensor([1.10, 0.95, 1.05, 0.90, 1.02, 0.97])).requires_grad_()
    log_pi = torch.log_softmax(logits, -1)
    weights = importance_weights(log_pi, torch.log(mu), clip)
    expected_loss = -(mu * weights * log_pi * 5.0).sum()  # E_mu[w · log pi(a) · A] with A = 5
    (grad,) = torch.autograd.grad(expected_loss, logits)
    assert (grad.abs().max().item() < 1e-6) == unbiased, grad
