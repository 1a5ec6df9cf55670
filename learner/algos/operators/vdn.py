"""VDN: Q_tot = Σ_j Q_j, regressed to G."""

from __future__ import annotations

from torch.nn import functional as F

from vast.learner.algos.operators import Operator


class VDNOperator(Operator):
    def loss(self, q, q_max, state, returns):
        return F.mse_loss(q.sum(1), returns), {}
