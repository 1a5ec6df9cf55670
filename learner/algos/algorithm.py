"""One learner update of any method: VAST(Ψ, X, η) and the flat baselines through the same code.

A flat method is VAST with K = N and the identity assignment (k = i), so `subteam_sums` passes every
agent's value through unchanged and the operator sees the N local values, exactly as the reference's
flat QMIX / QTRAN. The one exception is the reference's IL baseline, an independent actor-critic with a
V-head baseline and no Q-network (§1.4.2); VAST-IL (the IL operator over sub-team values) is separate.

Update order (§1.4.1): behaviour probabilities with the current actor; one Adam step of the critic (local
Q-net + Ψ); for MetaGrad one Adam step of the assignment net; one Adam step of the actor whose baseline
uses the just-updated Q-net. Only valid (R, T) rows count, flattened to M rows up front.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from common.config import AlgoConfig
from common.networks import PolicyNet, TorchFeatures, masked_log_probs
from envs.base import EnvSpec
from learner.algos import actor_loss as al
from learner.algos.assignment import (
    MetaGradAssigner,
    division_diversity,
    fixed_assignment,
    random_assignment,
    spatial_assignment,
    subteam_sums,
)
from learner.algos.networks import LocalQNet
from learner.algos.operators import build_operator
from learner.batch import TrainingBatch


@dataclass
class Rows:
    """The batch's usable (episode, step) rows, flattened: M = number of rows."""

    obs: TorchFeatures  # leading (M, N)
    state: torch.Tensor  # (M, S)
    actions: torch.Tensor  # (M, N)
    returns: torch.Tensor  # (M,)
    alive: torch.Tensor  # (M, N)
    positions: torch.Tensor  # (M, N, 2)
    behaviour_logp: torch.Tensor  # (M, N)


def select_rows(batch: TrainingBatch, rows: torch.Tensor) -> Rows:
    return Rows(
        obs=batch.obs.index(rows),
        state=batch.state[rows],
        actions=batch.actions[rows],
        returns=batch.returns[rows],
        alive=batch.alive[rows],
        positions=batch.positions[rows],
        behaviour_logp=batch.behaviour_logp[rows],
    )


def _normalized(cfg: AlgoConfig) -> AlgoConfig:
    """The same defaults as Config.validate, for callers that build an AlgoConfig by hand."""
    mixer = cfg.mixer or ("qtran" if cfg.algo == "vast" else cfg.algo)
    assign = cfg.assign or ("metagrad" if cfg.algo == "vast" else "identity")
    return AlgoConfig(**{**cfg.__dict__, "mixer": mixer, "assign": assign})


class Algorithm:
    """Holds the actor, the critic (local Q-net + Ψ), MetaGrad's net, their optimisers and an RNG."""

    def __init__(self, cfg: AlgoConfig, spec: EnvSpec, device: torch.device | str, seed: int):
        cfg = _normalized(cfg)
        self.cfg = cfg
        self.spec = spec
        self.device = torch.device(device)
        self.n_subteams = cfg.n_subteams(spec.n_agents)
        self.is_vast = cfg.algo == "vast"
        self.has_critic = cfg.algo != "il"  # the reference's IL baseline is an actor-critic
        obs_dims = (spec.obs_dense_dim, spec.obs_onehot_dim)
        with torch.random.fork_rng(devices=[]):  # seed-determined init on CPU, global RNG untouched
            torch.manual_seed(seed)
            self.policy = PolicyNet(*obs_dims, spec.n_actions, cfg.actor_hidden)
            self.qnet = LocalQNet(*obs_dims, spec.n_actions, cfg.actor_hidden) if self.has_critic else None
            self.operator = (
                build_operator(
                    cfg.mixer, self.n_subteams, spec.state_dim, cfg.critic_hidden, cfg.qtran_squared_opt
                )
                if self.has_critic
                else None
            )
            self.assigner = (
                MetaGradAssigner(spec.state_dim, *obs_dims, self.n_subteams)
                if cfg.assign == "metagrad"
                else None
            )
        self.modules = {
            name: module.to(self.device)
            for name, module in (
                ("policy", self.policy),
                ("qnet", self.qnet),
                ("operator", self.operator),
                ("assigner", self.assigner),
            )
            if module is not None
        }
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            "actor": torch.optim.Adam(self.policy.parameters(), lr=cfg.lr, fused=True)
        }
        if self.has_critic:
            critic = [*self.qnet.parameters(), *self.operator.parameters()]
            self.optimizers["critic"] = torch.optim.Adam(critic, lr=cfg.lr, fused=True)
        if self.assigner is not None:
            self.optimizers["meta"] = torch.optim.Adam(self.assigner.parameters(), lr=cfg.lr, fused=True)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.updates = 0

    # -- one update ---------------------------------------------------------------------------------
    def update(self, batch: TrainingBatch, mode: str = "sync", max_policy_lag: int = 4) -> dict[str, float]:
        if mode not in ("sync", "async"):
            raise ValueError(f"mode must be sync or async, got {mode!r}")
        keep = torch.ones(batch.n_episodes, dtype=torch.bool, device=batch.valid.device)
        if mode == "async":
            lag = batch.policy_lag
            keep = (lag <= max_policy_lag) & (lag >= 0)
        out: dict[str, Any] = {"dropped_stale": float((~keep).sum())}
        rows = batch.valid & keep.unsqueeze(1)
        if not bool(rows.any()):
            return {**out, "skipped": 1.0}
        data = select_rows(batch, rows)
        out["rows"] = float(data.returns.shape[0])

        logits, value = self.policy(data.obs)
        log_probs = masked_log_probs(logits, data.alive)
        logp_taken = log_probs.gather(-1, data.actions.unsqueeze(-1)).squeeze(-1)
        probs_old = log_probs.detach().exp()

        if self.has_critic:
            k = self._assign(data, out)
            self._critic_step(data, k, out)
            with torch.no_grad():
                advantage = al.vff_advantage(data.returns, probs_old, self.qnet(data.obs))
            if self.assigner is not None:
                loss = self.assigner.loss(data.state, data.obs, k, advantage)
                out["loss/meta"] = loss.detach()
                out["grad_norm/meta"] = self._step("meta", loss)
            if self.is_vast:
                stride = 1 if self.spec.episode_limit == 1 else 10
                out["diversity"], out["subteams_active"] = division_diversity(k, self.n_subteams, stride)
        else:
            advantage = data.returns.unsqueeze(-1) - value.detach()
        self._actor_step(data, log_probs, logp_taken, value, advantage, mode, out)
        self.updates += 1
        return {key: float(v) for key, v in out.items()}

    def _assign(self, data: Rows, out: dict[str, Any]) -> torch.Tensor:
        cfg, n_sub = self.cfg, self.n_subteams
        m, n = data.actions.shape
        if cfg.assign in ("identity", "fixed"):
            return fixed_assignment(m, n, n_sub, self.device)
        if cfg.assign == "random":
            return random_assignment(data.alive, n_sub, self.generator)
        if cfg.assign == "spatial":
            clusters = n_sub if cfg.spatial_centroids == "k" else max(1, n_sub // 2)
            return spatial_assignment(data.positions, data.alive, n_sub, clusters, self.generator)
        k, entropy = self.assigner.sample(data.state, data.obs, self.generator)
        out["meta_entropy"] = entropy
        return k

    def _critic_step(self, data: Rows, k: torch.Tensor, out: dict[str, Any]) -> None:
        q_all = self.qnet(data.obs)
        q_taken = q_all.gather(-1, data.actions.unsqueeze(-1)).squeeze(-1)
        sums = subteam_sums(torch.stack([q_taken, q_all.max(-1).values]), k, self.n_subteams)
        loss, parts = self.operator.loss(sums[0], sums[1], data.state, data.returns)
        out["loss/critic"] = loss.detach()
        out.update({f"loss/{name}": value.detach() for name, value in parts.items()})
        out["q_taken_mean"] = q_taken.detach().mean()
        out["grad_norm/critic"] = self._step("critic", loss)

    def _actor_step(self, data, log_probs, logp_taken, value, advantage, mode, out) -> None:
        cfg = self.cfg
        alive = data.alive
        if cfg.actor_loss == "ppo":
            # sync: π_old is this update's actor (ratio 1 at the single step); async: the behaviour policy.
            old = data.behaviour_logp if mode == "async" else logp_taken.detach()
            policy_loss = al.ppo_clip_loss(logp_taken, old, advantage, alive, cfg.ppo_clip)
        else:
            weight = None
            if mode == "async":
                weight = al.importance_weights(logp_taken, data.behaviour_logp, cfg.importance_clip)
                out["importance_weight_mean"] = al.masked_mean(weight, alive)
            policy_loss = al.reinforce_loss(logp_taken, advantage, alive, weight)
        loss = policy_loss
        out["loss/policy"] = policy_loss.detach()
        if not self.has_critic:
            v_loss = al.value_loss(value, data.returns, alive)
            out["loss/value"] = v_loss.detach()
            loss = loss + v_loss
        out["loss/actor"] = loss.detach()
        out["entropy"] = al.masked_mean(-(log_probs.exp() * log_probs).sum(-1), alive).detach()
        out["advantage_mean"] = al.masked_mean(advantage, alive)
        out["grad_norm/actor"] = self._step("actor", loss)

    def _step(self, name: str, loss: torch.Tensor) -> torch.Tensor:
        """zero_grad, backward, clip the L2 norm to grad_clip, Adam step; returns the pre-clip norm."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for group in opt.param_groups for p in group["params"]]
        norm = nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        opt.step()
        return norm.detach()

    # -- checkpoints --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "modules": {name: module.state_dict() for name, module in self.modules.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "generator": self.generator.get_state(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, module in self.modules.items():
            module.load_state_dict(state["modules"][name])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        self.generator.set_state(state["generator"].cpu())
        self.updates = int(state["updates"])
