"""Spatial assignment: k-means clusters of the alive agents' (x, y) at every step, all steps at once.

The reference rebuilds a scikit-learn KMeans per step (k-means++ seeding, 10 seedings, up to 300 Lloyd
steps); here one batched k-means++ seeding and KMEANS_ITERS Lloyd steps run over every transition of the
batch together, with K clusters (the code) or K/2 (the paper, `algo.spatial_centroids half`).
"""

from __future__ import annotations

import math

import torch

from vast.learner.algos.assignment import Assignment, fixed_assignment

KMEANS_ITERS = 10


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


class SpatialAssignment(Assignment):
    def __init__(self, spec, n_subteams, cfg):
        super().__init__(spec, n_subteams, cfg)
        self.n_clusters = n_subteams if cfg.spatial_centroids == "k" else max(1, n_subteams // 2)

    def assign(self, data, generator, out):
        return spatial_assignment(data.positions, data.alive, self.n_subteams, self.n_clusters, generator)
