"""Sub-team assignment strategies X and the sub-team sums they feed (reference-spec §1.4.5).

Every strategy returns k (M, N): agent i's sub-team in transition m, in [0, K). Everything is batched
over all M = R·T transitions at once: no Python loop over agents, sub-teams or transitions.

Dead agents: the reference leaves them whatever index a reused buffer held. Here, for Random and
Spatial, a dead agent takes the Fixed index i mod K (deterministic, and it keeps the critic's view of
dead agents, which it still sums, stable). MetaGrad samples every agent, dead or alive, as the
reference does.
"""

from __future__ import annotations

import math

import torch
from torch.utils.checkpoint import checkpoint

from common.networks import TorchFeatures
from learner.algos.networks import VASTNet

CHUNK_ELEMENTS = 1 << 23  # MetaGrad logits are (M·N, K): beyond this many elements, work in row chunks
KMEANS_ITERS = 10


def subteam_sums(values: torch.Tensor, k: torch.Tensor, n_subteams: int) -> torch.Tensor:
    """Q^G_k = Σ_{i ∈ G_k} values_i: one scatter_add over (..., M, N) -> (..., M, K); empty teams are 0."""
    out = values.new_zeros((*values.shape[:-1], n_subteams))
    return out.scatter_add_(-1, k.expand_as(values), values)


def fixed_assignment(m: int, n: int, n_subteams: int, device: torch.device) -> torch.Tensor:
    """k = i mod K (0-based); with K = N this is the identity, i.e. the flat methods."""
    return (torch.arange(n, device=device) % n_subteams).expand(m, n)


def random_assignment(alive: torch.Tensor, n_subteams: int, generator: torch.Generator) -> torch.Tensor:
    """Each alive agent draws k ~ U{0, …, min(K, #alive) − 1} independently; dead agents get i mod K."""
    m, n = alive.shape
    teams = alive.sum(1, keepdim=True).clamp(min=1, max=n_subteams)
    u = torch.rand((m, n), generator=generator, device=alive.device)
    draw = torch.minimum((u * teams).long(), teams - 1)
    return torch.where(alive, draw, fixed_assignment(m, n, n_subteams, alive.device))


def kmeans_plusplus_init(
    points: torch.Tensor, mask: torch.Tensor, n_clusters: int, generator: torch.Generator
) -> torch.Tensor:
    """k-means++ seeding on every row at once: points (M, N, D), mask (M, N) -> centroids (M, C, D).

    Each new centroid is a masked point drawn with probability ∝ its squared distance to the nearest
    centroid so far. The draws are sequential by nature (one per centroid), but each is batched over
    all rows and points; a row with fewer masked points than C repeats points (see `batched_kmeans`).
    """
    m, n, _ = points.shape
    weights = mask.to(points.dtype)
    rows = torch.arange(m, device=points.device)
    u = torch.rand((m, n_clusters), generator=generator, device=points.device)
    first = u[:, :1] * weights.sum(1, keepdim=True)
    idx = torch.searchsorted(weights.cumsum(1), first, right=True).squeeze(1).clamp(max=n - 1)
    chosen = [points[rows, idx]]
    d2 = ((points - chosen[0].unsqueeze(1)) ** 2).sum(-1) * weights
    for j in range(1, n_clusters):  # one draw per centroid, batched over rows and points
        # A row whose masked points all sit on centroids already draws any masked point (a duplicate).
        w = torch.where(d2.sum(1, keepdim=True) > 0, d2, weights)
        idx = torch.searchsorted(w.cumsum(1), u[:, j : j + 1] * w.sum(1, keepdim=True), right=True)
        idx = idx.squeeze(1)
        chosen.append(points[rows, idx.clamp(max=n - 1)])
        d2 = torch.minimum(d2, ((points - chosen[-1].unsqueeze(1)) ** 2).sum(-1) * weights)
    return torch.stack(chosen, dim=1)


def batched_kmeans(
    points: torch.Tensor,
    mask: torch.Tensor,
    n_clusters: int,
    generator: torch.Generator,
    iters: int = KMEANS_ITERS,
) -> torch.Tensor:
    """Lloyd's k-means on every row at once: points (M, N, D), mask (M, N) -> labels (M, N).

    Row m uses min(n_clusters, #masked points) clusters (as the reference's rebuilt KMeans does):
    k-means++ seeding, then `iters` Lloyd steps, each one batched over rows, points and clusters with
    one (M, N, C) distance tensor; an empty cluster keeps its centroid. scikit-learn (the reference)
    runs 10 seedings and up to 300 steps per call, one call per step. Labels of unmasked points are
    meaningless.
    """
    m, n, _ = points.shape
    c = min(n_clusters, n)
    centroids = kmeans_plusplus_init(points, mask, c, generator)
    usable = torch.arange(c, device=points.device) < mask.sum(1, keepdim=True)  # (M, C)
    weights = mask.to(points.dtype)

    def nearest(cent: torch.Tensor) -> torch.Tensor:
        # argmin_c |p − c|² = argmin_c (|c|² − 2 p·c): one fused (M, N, C) op; unusable clusters at +inf.
        offset = torch.where(usable, (cent**2).sum(-1), math.inf).unsqueeze(1)
        return torch.baddbmm(offset, points, cent.transpose(1, 2), alpha=-2.0).argmin(-1)

    for _ in range(iters):  # Lloyd iterations; everything inside is batched over rows, points, clusters
        labels = nearest(centroids)
        sums = torch.zeros_like(centroids).scatter_add_(
            1, labels.unsqueeze(-1).expand_as(points), points * weights.unsqueeze(-1)
        )
        counts = torch.zeros((m, c), dtype=points.dtype, device=points.device).scatter_add_(
            1, labels, weights
        )
        centroids = torch.where(counts.unsqueeze(-1) > 0, sums / counts.clamp(min=1).unsqueeze(-1), centroids)
    return nearest(centroids)


def spatial_assignment(
    positions: torch.Tensor,
    alive: torch.Tensor,
    n_subteams: int,
    n_clusters: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """k = k-means cluster of the alive agents' (x, y) at that step; dead agents get i mod K."""
    m, n = alive.shape
    labels = batched_kmeans(positions.float(), alive, n_clusters, generator)
    return torch.where(alive, labels, fixed_assignment(m, n, n_subteams, alive.device))


def division_diversity(k: torch.Tensor, n_subteams: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Plot mode D: among every `stride`-th transition, the number of distinct sets of non-empty
    sub-team ids; also the mean number of non-empty sub-teams over all transitions."""
    occupied = torch.zeros((k.shape[0], n_subteams), dtype=torch.bool, device=k.device)
    occupied.scatter_(1, k, True)
    distinct = torch.unique(occupied[::stride], dim=0).shape[0]
    return torch.tensor(float(distinct)), occupied.sum(1).float().mean()


class MetaGradAssigner(torch.nn.Module):
    """MetaGrad: k sampled from VASTNet at update time, trained by REINFORCE on Â = G − Σ_a π_old Q_i.

    `sample` draws k and keeps the graph of log X(k | s, o_i), so `loss` (after the critic step, which
    does not touch VASTNet) costs no second forward. When the (M·N, K) logits would exceed
    CHUNK_ELEMENTS, both work in row chunks and the loss recomputes each chunk in backward (activation
    checkpointing), so memory stays bounded at N = 12,800, K = 3,200 (full logits alone: 1.6 GB).
    """

    def __init__(self, state_dim: int, obs_dense_dim: int, obs_onehot_dim: int, n_subteams: int):
        super().__init__()
        self.n_subteams = n_subteams
        self.net = VASTNet(state_dim, obs_dense_dim, obs_onehot_dim, n_subteams)
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

    def loss(self, state: torch.Tensor, obs: TorchFeatures, k: torch.Tensor, advantage: torch.Tensor):
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
