"""Spatial assignment: k-means clusters of the alive agents' (x, y) at every step, all steps at once.

The reference rebuilds a scikit-learn KMeans per step (k-means++ seeding, 10 seedings, up to 300 Lloyd
steps); here one k-means++ seeding and KMEANS_ITERS Lloyd steps run over every transition of the batch,
with K clusters (the code) or K/2 (the paper, `algo.spatial_centroids half`).

Two implementations of the same algorithm, drawing the same uniforms from the generator:
- on the CPU, a compiled pass row by row (`_kmeans_rows`). A row's points and centroids stay in cache, the
  distances are computed for alive points and usable clusters only, and it runs on the calling thread (a
  parallel numba pass would bring a second OpenMP runtime, see `common.sparse`). At a Battle-800 batch
  it takes a fifth of the batched tensor ops' time, whose (M, N, C) distance tensor has 146 M elements;
- elsewhere (a GPU), the batched tensor ops (`batched_kmeans_torch`).
With integer positions (Battle, Warehouse) the seeding is the same in both, bit for bit. Lloyd's nearest
centroid is |p - c|² in the compiled pass and |c|² - 2 p·c in the tensor ops, so the two can break a
near-tie differently once centroids are means: they agree on 99.98% of labels in the test (which asks
for 99.9%), and the clusters are as tight (`tests/unit/learner/test_update.py`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

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
    """k-means on every row: points (M, N, 2), mask (M, N) -> labels (M, N); compiled on the CPU."""
    if points.device.type != "cpu" or points.shape[-1] != 2:
        return batched_kmeans_torch(points, mask, n_clusters, generator, iters)
    m, n, _ = points.shape
    u = torch.rand((m, min(n_clusters, n)), generator=generator)  # the draws the tensor path makes
    xy = points.detach().to(torch.float32).numpy()
    labels = np.zeros((m, n), dtype=np.int64)
    _kmeans_rows(
        np.ascontiguousarray(xy[..., 0]),
        np.ascontiguousarray(xy[..., 1]),
        np.ascontiguousarray(mask.numpy()),
        u.numpy(),
        iters,
        labels,
    )
    return torch.from_numpy(labels)


def batched_kmeans_torch(
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


@njit(cache=True)
def _kmeans_rows(x, y, mask, u, iters, labels):  # pragma: no cover - compiled
    """The algorithm of `batched_kmeans_torch`, one row at a time: x, y, mask (M, N); u (M, C) uniforms;
    writes the labels of alive points (dead ones stay 0)."""
    m, n = x.shape
    c = u.shape[1]
    alive = np.empty(n, np.int64)
    d2 = np.zeros(n, np.float32)
    cx = np.empty(c, np.float32)
    cy = np.empty(c, np.float32)
    sx = np.empty(c, np.float32)
    sy = np.empty(c, np.float32)
    count = np.empty(c, np.float32)
    for r in range(m):
        a = 0
        for i in range(n):
            if mask[r, i]:
                alive[a] = i
                a += 1
        d2[:] = 0.0
        for j in range(c):
            # k-means++: a point with probability ∝ d2, or any alive one while d2 is all zero (the first
            # draw, or every alive point already a centroid); the first i whose running sum exceeds u·sum.
            total = np.float32(0.0)
            for k in range(a):
                total += d2[alive[k]]
            spread = total > 0
            if not spread:
                total = np.float32(a)
            target = np.float32(u[r, j]) * total
            pick = n - 1
            running = np.float32(0.0)
            for k in range(a):
                i = alive[k]
                running += d2[i] if spread else np.float32(1.0)
                if running > target:
                    pick = i
                    break
            cx[j] = x[r, pick]
            cy[j] = y[r, pick]
            for k in range(a):
                i = alive[k]
                dx = x[r, i] - cx[j]
                dy = y[r, i] - cy[j]
                dist = dx * dx + dy * dy
                if j == 0 or dist < d2[i]:
                    d2[i] = dist
        usable = min(c, a)
        for step in range(iters + 1):
            for k in range(a):
                i = alive[k]
                best = 0
                nearest = np.float32(np.inf)
                for j in range(usable):
                    dx = x[r, i] - cx[j]
                    dy = y[r, i] - cy[j]
                    dist = dx * dx + dy * dy
                    if dist < nearest:
                        nearest = dist
                        best = j
                labels[r, i] = best
            if step == iters:
                break
            sx[:] = 0.0
            sy[:] = 0.0
            count[:] = 0.0
            for k in range(a):
                i = alive[k]
                label = labels[r, i]
                sx[label] += x[r, i]
                sy[label] += y[r, i]
                count[label] += 1.0
            for j in range(c):
                if count[j] > 0:  # an empty cluster keeps its centroid
                    cx[j] = sx[j] / count[j]
                    cy[j] = sy[j] / count[j]


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
