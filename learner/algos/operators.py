"""Value-function-factorisation operators Ψ over n sub-team values (reference-spec §1.4.4).

Each operator turns the sub-team values Q_j (taken actions), their greedy counterparts Q_j^max, the
global state and the team return G into one scalar critic loss. n = N for the flat baselines and K for
VAST; the operator does not know which, so flat methods and VAST share this code.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from learner.algos.networks import QMixer, QTRANBase

Parts = dict[str, torch.Tensor]


class Operator(nn.Module):
    """Ψ: `loss(q, q_max, state, returns)` with q, q_max (M, n), state (M, S), returns (M,)."""

    def loss(
        self, q: torch.Tensor, q_max: torch.Tensor, state: torch.Tensor, returns: torch.Tensor
    ) -> tuple[torch.Tensor, Parts]:
        raise NotImplementedError


class ILOperator(Operator):
    """Every sub-team value regressed to G on its own: MSE over the (M × n) matrix."""

    def loss(self, q, q_max, state, returns):
        return F.mse_loss(q, returns.unsqueeze(1).expand_as(q)), {}


class VDNOperator(Operator):
    """Q_tot = Σ_j Q_j, regressed to G."""

    def loss(self, q, q_max, state, returns):
        return F.mse_loss(q.sum(1), returns), {}


class QMIXOperator(Operator):
    """Q_tot = monotone hypernetwork mixer of the Q_j, regressed to G."""

    def __init__(self, state_dim: int, n: int, embed: int):
        super().__init__()
        self.mixer = QMixer(state_dim, n, embed)

    def loss(self, q, q_max, state, returns):
        return F.mse_loss(self.mixer(q, state), returns), {}


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
    """QTRAN (code version): the central net sees state ⊕ values; target y = n·G (the sum of the n
    identical column returns, a reference quirk: N·G flat, K·G in VAST)."""

    def __init__(self, state_dim: int, n: int, hidden: int, squared_opt: bool = False):
        super().__init__()
        self.n = n
        self.squared_opt = squared_opt
        self.net = QTRANBase(state_dim, n, hidden)

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


def build_operator(name: str, n: int, state_dim: int, hidden: int, squared_opt: bool = False) -> Operator:
    if name == "il":
        return ILOperator()
    if name == "vdn":
        return VDNOperator()
    if name == "qmix":
        return QMIXOperator(state_dim, n, hidden)
    if name == "qtran":
        return QTRANOperator(state_dim, n, hidden, squared_opt)
    raise ValueError(f"unknown operator {name!r}; expected il, vdn, qmix or qtran")
