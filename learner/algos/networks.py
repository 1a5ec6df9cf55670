"""The learner-only networks of the value-factorisation methods (reference-spec §1.4.3-§1.4.5).

Every first layer that sees an agent's observation is a `common.networks.InputLayer`, so one-hot
observation parts (GaussianSqueeze's agent id) are looked up, never multiplied. Networks that take the
global state next to a per-agent input (VASTNet) apply the state part of their first layer once per
transition and broadcast it over agents: the result equals the Linear over `state ⊕ obs` the reference
builds, without materialising an (R·T, N, S) input (6.5 GB at N = 12,800).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from common.networks import InputLayer, MLPTrunk, TorchFeatures

VASTNET_HIDDEN = 128  # hard-coded in the reference's VASTNet, independent of critic_hidden


class LocalQNet(nn.Module):
    """The shared local Q-network Q_i(o_i, ·): Linear(obs, 64) -> ELU -> Linear(64, 64) -> ELU -> Linear(64, A)."""

    def __init__(self, obs_dense_dim: int, obs_onehot_dim: int, n_actions: int, hidden: int = 64):
        super().__init__()
        self.trunk = MLPTrunk(obs_dense_dim, obs_onehot_dim, hidden)
        self.head = nn.Linear(hidden, n_actions)

    def forward(self, obs: TorchFeatures) -> torch.Tensor:
        """(..., A) local Q-values for every action."""
        return self.head(self.trunk(obs))


class QMixer(nn.Module):
    """QMIX's monotone mixer over n inputs with state-conditioned hypernetworks (spec table, embed 128).

    Q_tot = ELU(q · |W1(s)| + b1(s)) · |w_final(s)| + V(s). The absolute values make Q_tot
    non-decreasing in every input, which is what Theorem 1 (greedy local actions are jointly greedy)
    rests on.
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


class QTRANBase(nn.Module):
    """The reference's `QTRANBaseNet`: Linear(S + n, 128) -> ELU -> Linear(128, 128) -> ELU, with a
    joint-Q head and a V head, evaluated on the concatenation state ⊕ values.

    `forward` takes several value sets at once (P, M, n) and applies the state part of the first layer
    only once: QTRAN evaluates the net three times per sample (§1.4.4), on the same state.
    """

    def __init__(self, state_dim: int, n: int, hidden: int = 128):
        super().__init__()
        self.state_dim = state_dim
        self.input = nn.Linear(state_dim + n, hidden)
        self.hidden = nn.Linear(hidden, hidden)
        self.joint_q = nn.Linear(hidden, 1)
        self.v = nn.Linear(hidden, 1)

    def forward(self, state: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """state (M, S), values (P, M, n) -> (joint Q (P, M), V (P, M))."""
        weight = self.input.weight
        state_part = F.linear(state, weight[:, : self.state_dim], self.input.bias)
        h = F.elu(state_part + F.linear(values, weight[:, self.state_dim :]))
        h = F.elu(self.hidden(h))
        return self.joint_q(h).squeeze(-1), self.v(h).squeeze(-1)


class VASTNet(nn.Module):
    """MetaGrad's assignment policy X(k | s, o_i): Linear(S + O, 128) -> ELU -> Linear(128, 128) -> ELU
    -> Linear(128, K) -> softmax, over state ⊕ observation (state first, as in the reference).

    Its first layer is an InputLayer over `obs.with_prefix(state)`, i.e. exactly the parameters the
    reference has; `features` computes the same function with the state part applied per transition.
    """

    def __init__(self, state_dim: int, obs_dense_dim: int, obs_onehot_dim: int, n_subteams: int):
        super().__init__()
        self.state_dim = state_dim
        self.input = InputLayer(state_dim + obs_dense_dim, obs_onehot_dim, VASTNET_HIDDEN)
        self.hidden = nn.Linear(VASTNET_HIDDEN, VASTNET_HIDDEN)
        self.out = nn.Linear(VASTNET_HIDDEN, n_subteams)

    def features(self, state: torch.Tensor, obs: TorchFeatures) -> torch.Tensor:
        """state (M, S), obs leading (M, N) -> last hidden layer (M, N, 128)."""
        layer = self.input
        if layer.dense is not None:
            weight = layer.dense.weight
            pre = F.linear(state, weight[:, : self.state_dim], layer.dense.bias).unsqueeze(1)
            if obs.dense is not None:
                pre = pre + F.linear(obs.dense, weight[:, self.state_dim :])
        else:
            pre = layer.bias
        if layer.onehot is not None:
            pre = pre + layer.onehot(obs.onehot)
        return F.elu(self.hidden(F.elu(pre)))

    def reference_features(self, state: torch.Tensor, obs: TorchFeatures) -> torch.Tensor:
        """The same as `features`, built literally as InputLayer(obs.with_prefix(state broadcast)).

        Materialises (M, N, S): kept for tests that pin `features` to the reference construction.
        """
        n = obs.lead_shape[-1]
        prefix = state.unsqueeze(1).expand(-1, n, -1)
        return F.elu(self.hidden(F.elu(self.input(obs.with_prefix(prefix)))))

    def forward(self, state: torch.Tensor, obs: TorchFeatures) -> torch.Tensor:
        """Log-probabilities (M, N, K) of each agent's sub-team."""
        return torch.log_softmax(self.out(self.features(state, obs)), dim=-1)
