"""MetaGrad: a learned assignment policy X(k | s, o_i), sampled at update time and trained by a policy
gradient on Â = G − Σ_a π_old Q_i (the same advantage as the actor's)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from vast.common.networks import InputLayer, TorchFeatures
from vast.learner.algos.assignment import Assignment

CHUNK_ELEMENTS = 1 << 23  # MetaGrad logits are (M·N, K): beyond this many elements, work in row chunks
VASTNET_HIDDEN = 128  # hard-coded in the reference's VASTNet, independent of critic_hidden


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


class MetaGradAssignment(nn.Module, Assignment):
    """MetaGrad: k sampled from VASTNet at update time, trained by REINFORCE on Â = G − Σ_a π_old Q_i.

    `sample` draws k and keeps the graph of log X(k | s, o_i), so `loss` (after the critic step, which
    does not touch VASTNet) costs no second forward. When the (M·N, K) logits would exceed
    CHUNK_ELEMENTS, both work in row chunks and the loss recomputes each chunk in backward (activation
    checkpointing), so memory stays bounded at N = 12,800, K = 3,200 (full logits alone: 1.6 GB).
    """

    def __init__(self, spec, n_subteams: int, cfg=None):
        nn.Module.__init__(self)
        Assignment.__init__(self, spec, n_subteams, cfg)
        self.net = VASTNet(spec.state_dim, spec.obs_dense_dim, spec.obs_onehot_dim, n_subteams)
        self._taken: torch.Tensor | None = None  # log X(k) with its graph, from the last `sample`

    def _chunk_rows(self, rows: int) -> int:
        if rows * self.n_subteams <= CHUNK_ELEMENTS:
            return rows
        return max(1, CHUNK_ELEMENTS // self.n_subteams)

    def sample(
        self, state: torch.Tensor, obs: TorchFeatures, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """k (M, N) sampled by inverse CDF with `generator`, and the mean entropy of X (detached)."""
        h = self.net.features(state, obs)
        lead = h.shape[:-1]
        h = h.reshape(-1, h.shape[-1])
        rows = h.shape[0]
        u = torch.rand((rows, 1), generator=generator, device=h.device)
        step = self._chunk_rows(rows)
        if step == rows:  # the common case: one pass, graph kept for `loss`
            logp = torch.log_softmax(self.net.out(h), dim=-1)
            k, entropy = _inverse_cdf(logp.detach(), u)
            self._taken = logp.gather(1, k.unsqueeze(1)).squeeze(1)
            return k.reshape(lead), entropy / rows
        self._taken = None
        picks, entropy = [], h.new_zeros(())
        with torch.no_grad():
            for start in range(0, rows, step):  # row chunks: bounded memory at very large M·N·K
                logp = torch.log_softmax(self.net.out(h[start : start + step]), dim=-1)
                k, ent = _inverse_cdf(logp, u[start : start + step])
                picks.append(k)
                entropy = entropy + ent
        return torch.cat(picks).reshape(lead), entropy / rows

    def assign(self, data, generator, out):
        k, out["meta_entropy"] = self.sample(data.state, data.obs, generator)
        return k

    def infer(self, data, generator, greedy=False):
        with torch.no_grad():
            if greedy:
                return self.net(data.state, data.obs).argmax(-1)
            k, _ = self.sample(data.state, data.obs, generator)
        self._taken = None  # nothing to train on: drop the kept log-probabilities
        return k

    def loss(self, data, k, advantage):
        return self.policy_loss(data.state, data.obs, k, advantage)

    def policy_loss(
        self, state: torch.Tensor, obs: TorchFeatures, k: torch.Tensor, advantage: torch.Tensor
    ) -> torch.Tensor:
        """−mean over all (transition, agent) of log X(k | s, o_i) · Â (Â detached)."""
        advantage = advantage.detach().reshape(-1)
        if self._taken is not None:
            taken, self._taken = self._taken, None
            return meta_loss(taken, advantage)
        h = self.net.features(state, obs)
        h = h.reshape(-1, h.shape[-1])
        k = k.reshape(-1, 1)
        step = self._chunk_rows(h.shape[0])
        if step == h.shape[0]:
            return meta_loss(self._taken_logp(h, k), advantage)
        total = h.new_zeros(())
        for start in range(0, h.shape[0], step):
            sl = slice(start, start + step)
            logp = checkpoint(self._taken_logp, h[sl], k[sl], use_reentrant=False)
            total = total - (logp * advantage[sl]).sum()
        return total / h.shape[0]

    def _taken_logp(self, h: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.net.out(h), dim=-1).gather(1, k).squeeze(1)


def _inverse_cdf(logp: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Categorical draws from log-probabilities (rows, K) with uniforms u (rows, 1); summed entropy."""
    probs = logp.exp()
    cdf = probs.cumsum(-1)
    k = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(-1)
    return k.clamp(max=logp.shape[-1] - 1), -(probs * logp).sum()


def meta_loss(logp_taken: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    """MetaGrad's REINFORCE loss −mean(log X(k | s, o_i) · Â), over every (transition, agent)."""
    return -(logp_taken * advantage.detach()).mean()
