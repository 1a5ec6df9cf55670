"""`algo.return_norm batch`: float64 rewards standardised over the batch, where float32 sees only zeros."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import make_episodes
from vast.envs.gaussian_squeeze import gaussian_squeeze
from vast.envs.registry import make_spec
from vast.learner.batch import build_batch, standardised_returns


def test_standardised_returns_by_hand():
    rewards = torch.tensor([[1e-108, 0.0], [3e-108, 0.0]], dtype=torch.float64)
    valid = torch.tensor([[True, False], [True, False]])
    out = standardised_returns(rewards, valid, 1.0)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), [[-1.0, 0.0], [1.0, 0.0]], atol=1e-6)
    # discounting first (gamma 0.5 within an episode), then the same standardisation over valid steps
    rewards = torch.tensor([[0.0, 4.0], [2.0, 0.0]], dtype=torch.float64)
    out = standardised_returns(rewards, torch.ones(2, 2, dtype=torch.bool), 0.5)
    g = np.array([[2.0, 4.0], [2.0, 0.0]])
    np.testing.assert_allclose(out.numpy(), (g - g.mean()) / g.std(), rtol=1e-6)
    assert not standardised_returns(
        torch.zeros(2, 1, dtype=torch.float64), torch.ones(2, 1, dtype=torch.bool), 1.0
    ).any()


def test_gaussian_squeeze_800_gives_a_signal_only_with_batch_normalisation():
    spec = make_spec("gaussian-squeeze-800")
    episodes = make_episodes("gaussian-squeeze-800", 10, "r")
    sums = np.array([ep.arrays["actions"].astype(np.int64).sum() for ep in episodes])
    assert (sums > 3000).all()  # a near-uniform policy: x ~ 3600, GS ~ 1e-108, 0 in float32
    assert [ep.arrays["rewards"][0] for ep in episodes] == pytest.approx(gaussian_squeeze(sums), rel=1e-12)
    faithful = build_batch(episodes, spec, "cpu", 0)
    assert not faithful.returns.any() and faithful.returns.dtype == torch.float32  # the reference: no signal
    normalised = build_batch(episodes, spec, "cpu", 0, return_norm="batch").returns[:, 0].numpy()
    assert normalised.mean() == pytest.approx(0.0, abs=1e-6) and normalised.std() == pytest.approx(
        1.0, rel=1e-5
    )
    assert np.argmax(normalised) == np.argmin(sums)  # the episode with the smallest sum is the best
    with pytest.raises(ValueError, match="return_norm"):
        build_batch(episodes, spec, "cpu", 0, return_norm="nope")
