"""QMIX: a monotone mixer of the n values whose weights come from state-conditioned hypernetworks."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vast.common.config import AlgoConfig
from vast.learner.algos.operators import Operator


class QMixer(nn.Module):
    """Q_tot = ELU(q · |W1(s)| + b1(s)) · |w_final(s)| + V(s), with embedding size `embed` (128).

    The absolute values make Q_tot non-decreasing in every input, which is what Theorem 1 (greedy local
    actions are jointly greedy) rests on.
    """

    def __init__(self, state_dim: int, n: int, embed: int = 128):
        super().__init__()
        self.n = n
        self.embed = embed
        self.hyper_w1 = nn.Sequential(nn.Linear(state_dim, embed), nn.ELU(), nn.Linear(embed, embed * n))
        self.hyper_w_final = nn.Sequential(nn.Linear(state_dim, embed), nn.ELU(), nn.Linear(embed, embed))
        self.hyper_b1 = nn.Linear(state_dim, embed)
        self.hyper_v = nn.Sequential(nn.Linear(state_dim, embed), nn.ELU(), nn.Linear(embed, 1))

    def forward(self, q: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """q (M, n), state (M, S) -> Q_tot (M,)."""
        m = q.shape[0]
        w1 = self.hyper_w1(state).abs().view(m, self.n, self.embed)
        hidden = F.elu(torch.bmm(q.unsqueeze(1), w1).squeeze(1) + self.hyper_b1(state))
        w_final = self.hyper_w_final(state).abs()
        return (hidden * w_final).sum(-1) + self.hyper_v(state).squeeze(-1)


class QMIXOperator(Operator):
    """Q_tot from the mixer, regressed to G."""

    def __init__(self, n: int, state_dim: int, cfg: AlgoConfig):
        super().__init__(n, state_dim, cfg)
        self.mixer = QMixer(state_dim, n, cfg.critic_hidden)

    def loss(self, q, q_max, state, returns):
        return F.mse_loss(self.mixer(q, state.dense), returns), {}
