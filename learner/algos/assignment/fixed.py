"""Fixed assignment: agent i always in sub-team i mod K (with K = N: the flat methods' identity)."""

from __future__ import annotations

from vast.learner.algos.assignment import Assignment, fixed_assignment


class FixedAssignment(Assignment):
    def assign(self, data, generator, out):
        m, n = data.actions.shape
        return fixed_assignment(m, n, self.n_subteams, data.actions.device)
