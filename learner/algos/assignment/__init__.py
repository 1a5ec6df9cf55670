"""Sub-team assignment strategies X (one file each, listed in `vast.common.algorithms.ASSIGNMENTS`)
and the sub-team sums they feed.

Every strategy returns k (M, N): agent i's sub-team in transition m, in [0, K), batched over all
M = R·T transitions at once (no Python loop over agents, sub-teams or transitions). Dead agents: the
reference leaves them whatever index a reused buffer held; here Random and Spatial give a dead agent
the Fixed index i mod K (deterministic, and it keeps the critic's view of dead agents, which it still
sums, stable); MetaGrad samples every agent, dead or alive, as the reference does.
"""

from __future__ import annotations

import torch
from torch import nn

from vast.common.config import AlgoConfig
from vast.envs.base import EnvSpec
from vast.learner.batch import Rows


class Assignment:
    """X: built as `Assignment(spec, n_subteams, cfg)`; `assign` draws k for a batch of rows.

    A strategy with parameters (MetaGrad) is also an nn.Module: the learner checkpoints it, gives it
    its own optimiser and calls `loss(data, k, advantage)` after the critic step.
    """

    def __init__(self, spec: EnvSpec, n_subteams: int, cfg: AlgoConfig):
        self.n_subteams = n_subteams

    def assign(self, data: Rows, generator: torch.Generator, out: dict) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, data: Rows, k: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} has no parameters to train")

    def infer(self, data: Rows, generator: torch.Generator, greedy: bool = False) -> torch.Tensor:
        """k outside training (pictures of a trained run): what `assign` draws, without gradients;
        `greedy` takes the most likely team where the strategy has a distribution (MetaGrad)."""
        with torch.no_grad():
            return self.assign(data, generator, {})

    @property
    def trainable(self) -> bool:
        return isinstance(self, nn.Module)


def subteam_sums(values: torch.Tensor, k: torch.Tensor, n_subteams: int) -> torch.Tensor:
    """Q^G_k = Σ_{i ∈ G_k} values_i: one scatter_add over (..., M, N) -> (..., M, K); empty teams are 0."""
    out = values.new_zeros((*values.shape[:-1], n_subteams))
    return out.scatter_add_(-1, k.expand_as(values), values)


def fixed_assignment(m: int, n: int, n_subteams: int, device: torch.device) -> torch.Tensor:
    """k = i mod K (0-based); with K = N this is the identity, i.e. the flat methods."""
    return (torch.arange(n, device=device) % n_subteams).expand(m, n)


def division_diversity(k: torch.Tensor, n_subteams: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Plot mode D: among every `stride`-th transition, the number of distinct sets of non-empty
    sub-team ids; also the mean number of non-empty sub-teams over all transitions."""
    occupied = torch.zeros((k.shape[0], n_subteams), dtype=torch.bool, device=k.device)
    occupied.scatter_(1, k, True)
    return count_distinct_rows(occupied[::stride]), occupied.sum(1).float().mean()


BITS_PER_WORD = 62  # bits of a row packed into each non-negative int64 key


def count_distinct_rows(rows: torch.Tensor) -> torch.Tensor:
    """The number of distinct rows of a boolean matrix (m, K), as a float tensor on its device.

    Why not `torch.unique(dim=0)`: its result's size is only known on the host, so on a GPU it waits
    for the device in the middle of the update. Here each row is packed into ceil(K / 62) int64 words,
    the rows are sorted lexicographically (stable sorts from the last word to the first) and the
    boundaries between unequal neighbours are counted, all on the device."""
    m, k = rows.shape
    if m == 0:
        return rows.new_zeros((), dtype=torch.float32)
    words = -(-k // BITS_PER_WORD)
    padded = torch.zeros((m, words * BITS_PER_WORD), dtype=torch.int64, device=rows.device)
    padded[:, :k] = rows
    weights = torch.pow(2, torch.arange(BITS_PER_WORD, device=rows.device, dtype=torch.int64))
    keys = (padded.view(m, words, BITS_PER_WORD) * weights).sum(-1)  # (m, words): exact, < 2^62
    order = torch.arange(m, device=rows.device)
    for w in reversed(range(words)):
        order = order[torch.sort(keys[order, w], stable=True).indices]
    ordered = keys[order]
    return ((ordered[1:] != ordered[:-1]).any(1).sum() + 1).float()
