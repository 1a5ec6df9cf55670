"""GaussianSqueeze[N] (reference-spec §1.3): the reward surface, its optimum, and the batched contract."""

from __future__ import annotations

import numpy as np
import pytest

from vast.envs.gaussian_squeeze import decode_batch, gaussian_squeeze
from vast.envs.registry import make_env, make_spec


def test_integer_optimum_is_445_with_423_0326():
    x = np.arange(0, 9 * 800 + 1)
    gs = gaussian_squeeze(x)
    assert int(x[np.argmax(gs)]) == 445
    assert gs.max() == pytest.approx(423.0326, abs=5e-5)
    assert gaussian_squeeze(444) == pytest.approx(423.0222, abs=5e-5)
    assert gaussian_squeeze(446) == pytest.approx(423.0198, abs=5e-5)
    assert gaussian_squeeze(400) == 400.0


@pytest.mark.parametrize("n", [200, 400, 800, 3])
def test_spec_and_single_step_episode(n):
    spec = make_spec(f"gaussian-squeeze-{n}")
    assert (spec.n_actions, spec.episode_limit, spec.gamma, spec.state_dim) == (10, 1, 1.0, n)
    assert spec.obs_dense_dim == 0 and spec.obs_onehot_dim == n  # the id one-hot is an index, never N x N
    env = make_env(spec, 3)
    env.reset(0)
    obs = env.observe()
    assert obs.dense is None and obs.onehot.shape == (3, n)
    np.testing.assert_array_equal(obs.onehot[1], np.arange(n))
    assert not env.state().any()  # the reference never writes GS's state
    actions = np.zeros((3, n), dtype=np.int64)
    actions[0, :] = 1  # sum n
    actions[1, : min(n, 49)] = 9  # sum 9*min(n,49)
    result = env.step(actions)
    expected = gaussian_squeeze(actions.sum(axis=1))  # float64: exact far from mu too
    np.testing.assert_array_equal(result.team_reward, expected)
    assert result.done.all()
    np.testing.assert_allclose(env.metric(), gaussian_squeeze(actions.sum(axis=1)))
    again = env.step(np.full((3, n), 9))  # a finished copy ignores actions and earns nothing
    assert not again.team_reward.any() and again.done.all()
    np.testing.assert_allclose(env.metric(), gaussian_squeeze(actions.sum(axis=1)))


def test_mu_sigma_are_options():
    spec = make_spec("gaussian-squeeze-10", mu=20.0, sigma=5.0)
    env = make_env(spec, 1)
    env.reset(0)
    reward = env.step(np.full((1, 10), 2)).team_reward[0]
    assert reward == pytest.approx(20.0)  # x = mu gives GS = mu


def test_decode_batch_rebuilds_inputs_without_wire_arrays():
    spec = make_spec("gaussian-squeeze-5")
    obs, state = decode_batch(spec, {}, (4, 1))
    assert obs.onehot.shape == (4, 1, 5) and state.dense.shape == (4, 1, 5)
    np.testing.assert_array_equal(obs.onehot[3, 0], np.arange(5))
    assert not state.dense.any() and state.onehot is None


def test_random_policy_performance_matches_the_spec():
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 10, size=(2000, 200))
    env = make_env(make_spec("gaussian-squeeze-200"), 2000)
    env.reset(0)
    mean = env.step(actions).team_reward.mean()
    # the sum of 200 uniform actions is ~ Normal(900, 200 * 8.25): integrate GS over it (about 2.5;
    # GS at the mean sum, the spec's 1.74, is lower because GS is convex out there)
    x = np.arange(0, 1801)
    density = np.exp(-((x - 900.0) ** 2) / (2 * 1650.0))
    expected = float((gaussian_squeeze(x) * density).sum() / density.sum())
    assert mean == pytest.approx(expected, rel=0.1)
    assert gaussian_squeeze(900) == pytest.approx(1.74, abs=0.01)
