"""QTRAN as the reference codes it: a central net over state ⊕ values, three loss terms."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vast.common.config import AlgoConfig
from vast.common.networks import TorchFeatures
from vast.learner.algos.operators import Operator, Parts


class QTRANBase(nn.Module):
    """Linear(S + n, 128) -> ELU -> Linear(128, 128) -> ELU with a joint-Q head and a V head.

    `forward` takes several value sets at once (P, M, n) and applies the state part of the first layer
    only once: QTRAN evaluates the net three times per sample, on the same state.
    """

    def __init__(self, state_dim: int, n: int, hidden: int = 128):
        super().__init__()
        self.state_dim = state_dim
        self.input = nn.Linear(state_dim + n, hidden)
        self.hidden = nn.Linear(hidden, hidden)
        self.joint_q = nn.Linear(hidden, 1)
        self.v = nn.Linear(hidden, 1)

    def forward(self, state: TorchFeatures, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """state dense (M, S), values (P, M, n) -> (joint Q (P, M), V (P, M))."""
        weight = self.input.weight
        state_part = state.dense_linear(weight[:, : self.state_dim], self.input.bias)
        h = F.elu(state_part + F.linear(values, weight[:, self.state_dim :]))
        h = F.elu(self.hidden(h))
        return self.joint_q(h).squeeze(-1), self.v(h).squeeze(-1)


def qtran_loss(
    q_hat: torch.Tensor,
    v: torch.Tensor,
    q_hat_max: torch.Tensor,
    v_max: torch.Tensor,
    q_sum: torch.Tensor,
    q_max_sum: torch.Tensor,
    target: torch.Tensor,
    squared_opt: bool,
) -> tuple[torch.Tensor, Parts]:
    """QTRAN's three terms, all (M,), averaged over the batch.

    L_td = (Q̂ − y)²; L_opt = Q′max − sg(Q̂max) + Vmax² (code: linear, so it keeps pushing Σ max Q down)
    or (Q′max − sg(Q̂max) + Vmax)² (paper); L_nopt = min(Q′ − sg(Q̂) + V, 0)².
    """
    l_td = (q_hat - target) ** 2
    if squared_opt:
        l_opt = (q_max_sum - q_hat_max.detach() + v_max) ** 2
    else:
        l_opt = q_max_sum - q_hat_max.detach() + v_max**2
    l_nopt = torch.clamp(q_sum - q_hat.detach() + v, max=0.0) ** 2
    parts = {"qtran_td": l_td.mean(), "qtran_opt": l_opt.mean(), "qtran_nopt": l_nopt.mean()}
    return (l_td + l_opt + l_nopt).mean(), parts


class QTRANOperator(Operator):
    """The target is y = n·G (the sum of the n identical column returns, a reference quirk: N·G flat,
    K·G in VAST); `algo.qtran_squared_opt` selects the paper's squared L_opt."""

    def __init__(self, n: int, state_dim: int, cfg: AlgoConfig):
        super().__init__(n, state_dim, cfg)
        self.squared_opt = cfg.qtran_squared_opt
        self.net = QTRANBase(state_dim, n, cfg.critic_hidden)

    def loss(self, q, q_max, state, returns):
        # One pass over the three evaluations: (a) sg(Q_real), (b) Q_real, (c) Q_max.
        joint, v = self.net(state, torch.stack([q.detach(), q, q_max]))
        return qtran_loss(
            q_hat=joint[0],
            v=v[1],
            q_hat_max=joint[2],
            v_max=v[2],
            q_sum=q.sum(1),
            q_max_sum=q_max.sum(1),
            target=self.n * returns,
            squared_opt=self.squared_opt,
        )
