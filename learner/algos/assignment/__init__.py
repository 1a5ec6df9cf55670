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
    distinct = torch.unique(occupied[::stride], dim=0).shape[0]
    return torch.tensor(float(distinct)), occupied.sum(1).float().mean()
