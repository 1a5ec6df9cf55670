"""Acting draws exactly what torch.multinomial would, and refuses a policy that outputs NaN."""

from __future__ import annotations

import pytest
import torch

from vast.common.config import AlgoConfig
from vast.common.networks import make_policy
from vast.common.rollout import draw_categorical, rollout
from vast.envs.registry import make_env, make_spec


@pytest.mark.parametrize(("rows", "actions"), [(1, 2), (37, 3), (160, 6), (800, 6), (4000, 10)])
def test_draws_are_torch_multinomial_draws(rows, actions):
    data = torch.Generator().manual_seed(rows)
    log_probs = torch.log_softmax(3 * torch.randn(rows, actions, generator=data), -1)
    log_probs[: rows // 3] = -torch.log(torch.tensor(float(actions)))  # dead agents act uniformly
    probs = log_probs.exp()
    ours, theirs = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(20):  # and the generator is left where multinomial leaves it
        expected = torch.multinomial(probs, 1, generator=theirs).squeeze(-1)
        assert torch.equal(draw_categorical(probs, ours), expected)


def test_a_nan_policy_is_refused_with_a_clear_error():
    spec = make_spec("warehouse-4")
    policy = make_policy(spec, AlgoConfig())
    with torch.no_grad():
        policy.policy_head.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite action probabilities"):
        rollout(make_env(spec, 2), policy, 0, torch.Generator().manual_seed(0))
