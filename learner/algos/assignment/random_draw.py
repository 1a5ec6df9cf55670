"""Random assignment: a fresh uniform sub-team for every alive agent at every step."""

from __future__ import annotations

import torch

from vast.learner.algos.assignment import Assignment, fixed_assignment


def random_assignment(alive: torch.Tensor, n_subteams: int, generator: torch.Generator) -> torch.Tensor:
    """Each alive agent draws k ~ U{0, …, min(K, #alive) − 1} independently; dead agents get i mod K."""
    m, n = alive.shape
    teams = alive.sum(1, keepdim=True).clamp(min=1, max=n_subteams)
    u = torch.rand((m, n), generator=generator, device=alive.device)
    draw = torch.minimum((u * teams).long(), teams - 1)
    return torch.where(alive, draw, fixed_assignment(m, n, n_subteams, alive.device))


class RandomAssignment(Assignment):
    def assign(self, data, generator, out):
        return random_assignment(data.alive, self.n_subteams, generator)
