"""MetaGrad: a learned assignment policy X(k | s, o_i), sampled at update time and trained by a policy
gradient on Â = G − Σ_a π_old Q_i (the same advantage as the actor's)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

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

    def features(self, state: TorchFeatures, obs: TorchFeatures) -> torch.Tensor:
        """state dense (M, S), obs leading (M, N) -> last hidden layer (M, N, 128)."""
        layer = self.input
        if layer.dense is not None:
            weight = layer.dense.weight
            pre = state.dense_linear(weight[:, : self.state_dim], layer.dense.bias).unsqueeze(1)
            if obs.dense is not None:
                pre = pre + obs.dense_linear(weight[:, self.state_dim :])
        else:
            pre = layer.bias
        if layer.onehot is not None:
            pre = pre + layer.onehot(obs.onehot)
        return F.elu(self.hidden(F.elu(pre)))

    def live_features(
        self, state: TorchFeatures, obs: TorchFeatures
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """`features` on distinct rows only: (h (R + M, 128), where (M·N,)), row i of the (M, N) agents
        being h[where[i]]; None where `obs` has no `LiveRows` (then use `features`).

        An agent whose observation is all zeros (dead) gets the state's part of the first layer alone,
        the same for every such agent of a transition, so the trunk runs on the R live rows and one row
        per transition instead of M·N rows, with the same values.
        """
        live = obs.live_rows()
        layer = self.input
        if live is None or layer.dense is None or layer.onehot is not None:
            return None
        weight = layer.dense.weight
        per_state = state.dense_linear(weight[:, : self.state_dim], layer.dense.bias)  # (M, 128)
        n = obs.lead_shape[-1]
        pre_live = live.features.dense_linear(weight[:, self.state_dim :])[:-1]  # (R, 128), no zero row
        pre_live = pre_live + per_state.index_select(0, torch.div(live.index, n, rounding_mode="floor"))
        h = F.elu(self.hidden(F.elu(torch.cat([pre_live, per_state]))))
        zero = live.where == live.n_live
        transition = torch.div(torch.arange(live.where.numel(), device=h.device), n, rounding_mode="floor")
        return h, torch.where(zero, live.n_live + transition, live.where)

    def reference_features(self, state: TorchFeatures, obs: TorchFeatures) -> torch.Tensor:
        """The same as `features`, built literally as InputLayer(obs.with_prefix(state broadcast)).

        Materialises (M, N, S): kept for tests that pin `features` to the reference construction.
        """
        n = obs.lead_shape[-1]
        prefix = state.dense.unsqueeze(1).expand(-1, n, -1)
        return F.elu(self.hidden(F.elu(self.input(obs.with_prefix(prefix)))))

    def forward(self, state: TorchFeatures, obs: TorchFeatures) -> torch.Tensor:
        """Log-probabilities (M, N, K) of each agent's sub-team."""
        return torch.log_softmax(self.out(self.features(state, obs)), dim=-1)


class MetaGradAssignment(nn.Module, Assignment):
    """MetaGrad: k sampled from VASTNet at update time, trained by REINFORCE on Â = G − Σ_a π_old Q_i.

    `sample` draws k and keeps the graph of log X(k | s, o_i), so `loss` (after the critic step, which
    does not touch VASTNet) costs no second forward. When the (M·N, K) logits would exceed
    CHUNK_ELEMENTS, sampling and scoring work in row chunks (`ChunkedTakenLogProb`) and backward
    recomputes each chunk's softmax, so memory stays bounded at N = 12,800, K = 3,200 (full logits
    alone: 1.6 GB) at the cost of one extra (rows, 128) × (128, K) product.
    """

    def __init__(self, spec, n_subteams: int, cfg=None):
        nn.Module.__init__(self)
        Assignment.__init__(self, spec, n_subteams, cfg)
        self.net = VASTNet(spec.state_dim, spec.obs_dense_dim, spec.obs_onehot_dim, n_subteams)
        self.amp = getattr(cfg, "amp", "off") == "bf16"  # the trunk in bfloat16 (see PolicyGradientMethod)
        self._taken: torch.Tensor | None = None  # log X(k) with its graph, from the last `sample`

    def _hidden(self, state: TorchFeatures, obs: TorchFeatures) -> tuple[torch.Tensor, torch.Tensor | None]:
        """VASTNet's last hidden layer in float32 (its trunk autocast under `algo.amp`), as (h, where):
        h (R + M, 128) on distinct rows and where (M·N,) every agent's row of h (`VASTNet.live_features`),
        or h (M·N, 128) and None. The K-way head, the softmax and the sampling always run in float32."""
        with torch.autocast(state.dense.device.type, dtype=torch.bfloat16, enabled=self.amp):
            distinct = None if self.amp else self.net.live_features(state, obs)
            if distinct is None:
                h = self.net.features(state, obs)
                return h.reshape(-1, h.shape[-1]).float(), None
        return distinct

    def _chunk_rows(self, rows: int) -> int:
        if rows * self.n_subteams <= CHUNK_ELEMENTS:
            return rows
        return max(1, CHUNK_ELEMENTS // self.n_subteams)

    def sample(
        self, state: TorchFeatures, obs: TorchFeatures, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """k (M, N) sampled by inverse CDF with `generator`, and the mean entropy of X (detached)."""
        h, where = self._hidden(state, obs)
        lead = obs.lead_shape
        rows = h.shape[0] if where is None else where.numel()
        u = torch.rand((rows, 1), generator=generator, device=h.device)
        step = self._chunk_rows(rows)
        if step == rows:  # the common case: one pass, graph kept for `loss`
            logp = torch.log_softmax(self.net.out(h), dim=-1)
            k, entropy = _inverse_cdf(logp.detach(), u, where)
            self._taken = logp.gather(1, k.unsqueeze(1)).squeeze(1) if where is None else logp[where, k]
            return k.reshape(lead), entropy / rows
        # row chunks: bounded memory at very large M·N·K; log X(k) keeps h's graph, not the logits
        self._taken, k, entropy = self._chunked(h, where, None, u, step)
        return k.reshape(lead), entropy / rows

    def _chunked(self, h, where, k, u, step):
        out = self.net.out
        if where is None:
            return ChunkedTakenLogProb.apply(h, out.weight, out.bias, k, u, step)
        return DistinctChunkedTakenLogProb.apply(h, out.weight, out.bias, where, k, u, step)

    def assign(self, data, generator, out):
        k, out["meta_entropy"] = self.sample(data.state_input, data.obs, generator)
        return k

    def infer(self, data, generator, greedy=False):
        with torch.no_grad():
            if greedy:
                return self.net(data.state_input, data.obs).argmax(-1)
            k, _ = self.sample(data.state_input, data.obs, generator)
        self._taken = None  # nothing to train on: drop the kept log-probabilities
        return k

    def loss(self, data, k, advantage):
        return self.policy_loss(data.state_input, data.obs, k, advantage)

    def policy_loss(
        self, state: TorchFeatures, obs: TorchFeatures, k: torch.Tensor, advantage: torch.Tensor
    ) -> torch.Tensor:
        """−mean over all (transition, agent) of log X(k | s, o_i) · Â (Â detached)."""
        advantage = advantage.detach().reshape(-1)
        if self._taken is not None:
            taken, self._taken = self._taken, None
            return meta_loss(taken, advantage)
        h, where = self._hidden(state, obs)
        k = k.reshape(-1)
        step = self._chunk_rows(k.numel())
        if step == k.numel():
            logp = torch.log_softmax(self.net.out(h), dim=-1)
            taken = logp.gather(1, k.unsqueeze(1)).squeeze(1) if where is None else logp[where, k]
            return meta_loss(taken, advantage)
        taken, _, _ = self._chunked(h, where, k, None, step)
        return meta_loss(taken, advantage)


class ChunkedTakenLogProb(torch.autograd.Function):
    """log softmax(h·Wᵀ + b)[k] per row, in row chunks, never holding the (rows, K) logits — a chunked
    cross-entropy. Draws k by inverse CDF from uniforms u when k is None (one pass samples and scores).

    Why a Function rather than autograd over slices: backward recomputes each chunk's softmax and
    writes its rows of ∂h directly, so nothing is recomputed twice and no full-size zero gradient is
    allocated per chunk (slicing's backward did: 20% of a Battle-800 update was `fill_`).
    Returns (log X(k) (rows,), k (rows,), summed entropy); only the first is differentiable.
    """

    @staticmethod
    def forward(ctx, h, weight, bias, k, u, step):
        rows = h.shape[0]
        draw = k is None
        if draw:
            k = torch.empty(rows, dtype=torch.long, device=h.device)
        taken = h.new_empty(rows)
        entropy = h.new_zeros(())
        for start in range(0, rows, step):
            sl = slice(start, start + step)
            logp = torch.log_softmax(F.linear(h[sl], weight, bias), dim=-1)
            if draw:
                k[sl], chunk_entropy = _inverse_cdf(logp, u[sl])
                entropy += chunk_entropy
            taken[sl] = logp.gather(1, k[sl].unsqueeze(1)).squeeze(1)
        ctx.save_for_backward(h, weight, bias, k)
        ctx.step = step
        ctx.mark_non_differentiable(k, entropy)
        return taken, k, entropy

    @staticmethod
    def backward(ctx, grad_taken, _grad_k, _grad_entropy):
        h, weight, bias, k = ctx.saved_tensors
        grad_h = torch.empty_like(h)
        grad_w, grad_b = torch.zeros_like(weight), torch.zeros_like(bias)
        for start in range(0, h.shape[0], ctx.step):
            sl = slice(start, start + ctx.step)
            g = grad_taken[sl].unsqueeze(1)
            # ∂ log softmax(z)[k] / ∂z = onehot(k) − softmax(z), scaled by the incoming gradient
            grad_z = torch.log_softmax(F.linear(h[sl], weight, bias), dim=-1).exp_().mul_(-g)
            grad_z.scatter_add_(1, k[sl].unsqueeze(1), g)
            torch.mm(grad_z, weight, out=grad_h[sl])
            grad_w.addmm_(grad_z.t(), h[sl])
            grad_b += grad_z.sum(0)
        return grad_h, grad_w, grad_b, None, None, None


class DistinctChunkedTakenLogProb(torch.autograd.Function):
    """`ChunkedTakenLogProb` over distinct rows: row i of the result is scored (and drawn) from
    h[where[i]]. The head and its softmax run once per distinct row, in chunks of them; each chunk's
    agents are found by one stable sort of `where`. At Battle-800 half the agents are dead, and the
    dead agents of a transition share one row of h (`VASTNet.live_features`).

    Backward sums each distinct row's incoming gradients before the product with W: the row's
    ∂z = Σ_i g_i (onehot(k_i) − softmax(z)) = scatter(g at k) − softmax(z) · Σ_i g_i.
    Returns (log X(k) (rows,), k (rows,), summed entropy); only the first is differentiable.
    """

    @staticmethod
    def forward(ctx, h, weight, bias, where, k, u, step):
        rows, n_distinct = where.shape[0], h.shape[0]
        draw = k is None
        if draw:
            k = torch.empty(rows, dtype=torch.long, device=h.device)
        taken = h.new_empty(rows)
        entropy = h.new_zeros(())
        order, counts, bounds = _groups(where, n_distinct, step)
        for start, (lo, hi) in zip(range(0, n_distinct, step), bounds):
            logp = torch.log_softmax(F.linear(h[start : start + step], weight, bias), dim=-1)
            probs = logp.exp()
            if draw:  # each distinct row's entropy, as often as agents share it
                entropy -= (probs * logp).sum(-1).mul_(counts[start : start + step]).sum()
                cdf = probs.cumsum(-1)
            for first in range(lo, hi, step):  # the chunk's agents, at most `step` at a time
                ids = order[first : min(first + step, hi)]
                local = where[ids] - start
                if draw:
                    mine = cdf.index_select(0, local)
                    drawn = torch.searchsorted(mine, u[ids] * mine[:, -1:], right=True).squeeze(-1)
                    k[ids] = drawn.clamp(max=logp.shape[-1] - 1)
                taken[ids] = logp[local, k[ids]]
        ctx.save_for_backward(h, weight, bias, where, k, order)
        ctx.step, ctx.bounds = step, bounds
        ctx.mark_non_differentiable(k, entropy)
        return taken, k, entropy

    @staticmethod
    def backward(ctx, grad_taken, _grad_k, _grad_entropy):
        h, weight, bias, where, k, order = ctx.saved_tensors
        step = ctx.step
        grad_h = torch.empty_like(h)
        grad_w, grad_b = torch.zeros_like(weight), torch.zeros_like(bias)
        for start, (lo, hi) in zip(range(0, h.shape[0], step), ctx.bounds):
            sl = slice(start, start + step)
            ids = order[lo:hi]
            local, g = where[ids] - start, grad_taken[ids]
            grad_z = torch.log_softmax(F.linear(h[sl], weight, bias), dim=-1).exp_()
            summed = torch.zeros(grad_z.shape[0], dtype=g.dtype, device=g.device).index_add_(0, local, g)
            grad_z.mul_(-summed.unsqueeze(1))
            grad_z.index_put_((local, k[ids]), g, accumulate=True)
            torch.mm(grad_z, weight, out=grad_h[sl])
            grad_w.addmm_(grad_z.t(), h[sl])
            grad_b += grad_z.sum(0)
        return grad_h, grad_w, grad_b, None, None, None, None


def _groups(
    where: torch.Tensor, n_distinct: int, step: int
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
    """Rows sorted by their distinct row (stable), how many rows each distinct row has, and for every
    chunk of `step` distinct rows the range of sorted positions whose distinct row lies in it."""
    order = torch.argsort(where, stable=True)
    counts = torch.bincount(where, minlength=n_distinct)
    ends = counts.cumsum(0)
    edges = [0, *ends[step - 1 :: step].tolist()]
    if len(edges) <= (n_distinct - 1) // step + 1:
        edges.append(int(ends[-1]))
    return order, counts.to(torch.get_default_dtype()), list(zip(edges[:-1], edges[1:]))


def _inverse_cdf(
    logp: torch.Tensor, u: torch.Tensor, where: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Categorical draws from log-probabilities (rows, K) with uniforms u (rows, 1); summed entropy.
    With `where`, logp holds distinct rows and row i of the draws is logp[where[i]]."""
    probs = logp.exp()
    cdf = probs.cumsum(-1)
    if where is None:
        entropy = -(probs * logp).sum()
    else:
        entropy = -(probs * logp).sum(-1).index_select(0, where).sum()
        cdf = cdf.index_select(0, where)
    k = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(-1)
    return k.clamp(max=logp.shape[-1] - 1), entropy


def meta_loss(logp_taken: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    """MetaGrad's REINFORCE loss −mean(log X(k | s, o_i) · Â), over every (transition, agent)."""
    return -(logp_taken * advantage.detach()).mean()
