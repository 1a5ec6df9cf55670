"""The independent operator (the paper's VAST-IL): every sub-team value regressed to G on its own."""

from __future__ import annotations

from torch.nn import functional as F

from vast.learner.algos.operators import Operator


class IndependentOperator(Operator):
    """MSE over the (M × n) matrix of sub-team values against G."""

    def loss(self, q, q_max, state, returns):
        return F.mse_loss(q, returns.unsqueeze(1).expand_as(q)), {}
