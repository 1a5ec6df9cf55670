"""Value-function-factorisation operators Ψ over n sub-team values (one file each, listed in
`vast.common.algorithms.OPERATORS`).

An operator turns the sub-team values Q_j (taken actions), their greedy counterparts Q_j^max, the global
state and the team return G into one scalar critic loss. n = N for the flat baselines and K for VAST;
the operator does not know which, so flat methods and VAST share it. To add one: subclass `Operator`
in a new file here and register it (see docs/algorithms.md).
"""

from __future__ import annotations

import torch
from torch import nn

from vast.common.config import AlgoConfig
from vast.common.networks import TorchFeatures

Parts = dict[str, torch.Tensor]


class Operator(nn.Module):
    """Ψ: `loss(q, q_max, state, returns)` with q, q_max (M, n), returns (M,) and the state as a network
    input (`TorchFeatures` with dense (M, S), maybe its sparse rows too: use `state.dense_linear`).

    Every operator is built as `Operator(n, state_dim, cfg)`, its parameters trained by the critic's
    optimiser together with the local Q-network.
    """

    def __init__(self, n: int, state_dim: int, cfg: AlgoConfig):
        super().__init__()
        self.n = n

    def loss(
        self, q: torch.Tensor, q_max: torch.Tensor, state: TorchFeatures, returns: torch.Tensor
    ) -> tuple[torch.Tensor, Parts]:
        raise NotImplementedError
