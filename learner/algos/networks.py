"""The local Q-network every value-factorisation critic shares (the mixers live with their operators,
MetaGrad's VASTNet with its assignment strategy)."""

from __future__ import annotations

import torch
from torch import nn

from vast.common.networks import MLPTrunk, TorchFeatures, per_distinct_row


class LocalQNet(nn.Module):
    """The shared local Q-network Q_i(o_i, ·): Linear(obs, 64) -> ELU -> Linear(64, 64) -> ELU -> Linear(64, A)."""

    def __init__(self, obs_dense_dim: int, obs_onehot_dim: int, n_actions: int, hidden: int = 64):
        super().__init__()
        self.trunk = MLPTrunk(obs_dense_dim, obs_onehot_dim, hidden)
        self.head = nn.Linear(hidden, n_actions)

    def per_row(self, obs: TorchFeatures) -> tuple[torch.Tensor]:
        return (self.head(self.trunk(obs)),)

    def forward(self, obs: TorchFeatures) -> torch.Tensor:
        """(..., A) local Q-values for every action (once per distinct row: `per_distinct_row`)."""
        (q,) = per_distinct_row(self, obs) or self.per_row(obs)
        return q
