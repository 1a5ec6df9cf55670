"""Flat value factorisation (the QMIX, QTRAN and VDN baselines): a shared local Q-network whose N
values an operator Ψ mixes into a critic trained on the team return; the actor's baseline is
Σ_a π_old(a | o_i) · Q_i(o_i, a) from the just-updated Q-network.

VAST (vast.py) is this method with the N values first summed into K sub-team values.
"""

from __future__ import annotations

import torch

from vast.common.algorithms import OPERATORS
from vast.learner.algos import actor_loss as al
from vast.learner.algos.assignment import subteam_sums
from vast.learner.algos.base import PolicyGradientMethod
from vast.learner.algos.networks import LocalQNet
from vast.learner.batch import Rows


class ValueFactorisation(PolicyGradientMethod):
    @property
    def n_subteams(self) -> int:
        """The operator's input width: every agent its own input."""
        return self.spec.n_agents

    def operator_name(self) -> str:
        return self.cfg.mixer

    def build_networks(self) -> None:
        spec, cfg = self.spec, self.cfg
        self.qnet = self._add_module(
            "qnet", LocalQNet(spec.obs_dense_dim, spec.obs_onehot_dim, spec.n_actions, cfg.actor_hidden)
        )
        operator_cls = OPERATORS.load(self.operator_name())
        self.operator = self._add_module("operator", operator_cls(self.n_subteams, spec.state_dim, cfg))

    def build_optimizers(self) -> None:
        self._add_optimizer("critic", [*self.qnet.parameters(), *self.operator.parameters()])

    def assign(self, data: Rows, out: dict) -> torch.Tensor | None:
        """Sub-team of every (row, agent), or None: the flat methods give every agent its own input."""
        return None

    def after_critic(self, data: Rows, k: torch.Tensor | None, advantage: torch.Tensor, out: dict) -> None:
        """Hook after the critic step (VAST trains its assignment policy here)."""

    def critic_phase(self, data, probs_old, value, out):
        k = self.assign(data, out)
        self._critic_step(data, out, k)
        with torch.no_grad(), self.mixed_precision():
            q_new = self.qnet(data.obs)
        advantage = al.vff_advantage(data.returns, probs_old, q_new.float())
        self.after_critic(data, k, advantage, out)
        return advantage

    def _critic_step(self, data: Rows, out: dict, k: torch.Tensor | None = None) -> None:
        """One critic step; with sub-teams k (M, N) the operator sees their sums, else every agent."""
        with self.mixed_precision():
            q_all = self.qnet(data.obs)
        q_all = q_all.float()
        q_taken = q_all.gather(-1, data.actions.unsqueeze(-1)).squeeze(-1)
        values = torch.stack([q_taken, q_all.max(-1).values])
        if k is not None:
            values = subteam_sums(values, k, self.n_subteams)
        loss, parts = self.operator.loss(values[0], values[1], data.state_input, data.returns)
        out["loss/critic"] = loss.detach()
        out.update({f"loss/{name}": value.detach() for name, value in parts.items()})
        out["q_taken_mean"] = q_taken.detach().mean()
        out["grad_norm/critic"] = self._step("critic", loss)
