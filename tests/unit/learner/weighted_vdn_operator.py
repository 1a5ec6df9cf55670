"""A test-only operator, written exactly like the worked example of docs/algorithms.md."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from vast.learner.algos.operators import Operator


class WeightedVDNOperator(Operator):
    """Q_tot = Σ_j softplus(w_j)·Q_j, regressed to G."""

    def __init__(self, n, state_dim, cfg):
        super().__init__(n, state_dim, cfg)
        self.w = torch.nn.Parameter(torch.zeros(n))

    def loss(self, q, q_max, state, returns):
        return F.mse_loss((F.softplus(self.w) * q).sum(1), returns), {}
