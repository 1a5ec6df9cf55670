"""VAST: value factorisation over K = ceil(η·N) variable sub-teams.

An assignment strategy X puts every agent into a sub-team at every step; a sub-team's value is the
sum of its members' local Q-values (one scatter_add), and the operator Ψ mixes the K sub-team values.
With MetaGrad, X is itself trained after the critic step, on the actor's advantage.
"""

from __future__ import annotations

from vast.common.algorithms import ASSIGNMENTS
from vast.learner.algos.assignment import division_diversity
from vast.learner.algos.factorised import ValueFactorisation


class VAST(ValueFactorisation):
    @property
    def n_subteams(self) -> int:
        return self.cfg.n_subteams(self.spec.n_agents)

    def build_networks(self) -> None:
        super().build_networks()
        self.assignment = ASSIGNMENTS.load(self.cfg.assign)(self.spec, self.n_subteams, self.cfg)
        if self.assignment.trainable:
            self._add_module("assigner", self.assignment)

    def build_optimizers(self) -> None:
        super().build_optimizers()
        if self.assignment.trainable:
            self._add_optimizer("meta", self.assignment.parameters())

    def assign(self, data, out):
        return self.assignment.assign(data, self.generator, out)

    def subteams(self, data, generator, greedy=False):
        return self.assignment.infer(data, generator, greedy)

    def after_critic(self, data, k, advantage, out):
        if self.assignment.trainable:
            if data.importance is not None:  # async: the same truncated ratios as the actor's terms
                advantage = advantage * data.importance
            loss = self.assignment.loss(data, k, advantage)
            out["loss/meta"] = loss.detach()
            out["grad_norm/meta"] = self._step("meta", loss)
        stride = 1 if self.spec.episode_limit == 1 else 10
        out["diversity"], out["subteams_active"] = division_diversity(k, self.n_subteams, stride)
