"""The update skeleton every method shares: behaviour probabilities, the method's critic phase, then
one actor step.

Update order (reference §1.4.1): behaviour probabilities with the current actor; the critic's Adam
step (and, for MetaGrad, the assignment net's); one Adam step of the actor, whose advantage comes from
the just-updated critic. Only valid (R, T) rows count, flattened to M rows up front. A method is a small
subclass that builds its critic networks and says how the advantage is made (`critic_phase`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vast.common.config import AlgoConfig
from vast.common.networks import TorchFeatures, make_policy
from vast.envs.base import EnvSpec
from vast.learner.algos import actor_loss as al
from vast.learner.batch import Rows, TrainingBatch

MODES = ("sync", "async")


class PolicyGradientMethod:
    """Holds the actor, the method's other networks, their Adam optimisers and the update's RNG.

    Networks are initialised from `seed` alone, in construction order (actor first), with the global
    torch RNG left as it was; the update's own sampling uses `self.generator`.
    """

    def __init__(self, cfg: AlgoConfig, spec: EnvSpec, device: torch.device | str, seed: int):
        self.cfg = cfg
        self.spec = spec
        self.device = torch.device(device)
        self.modules: dict[str, nn.Module] = {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.policy = self._add_module("policy", make_policy(spec, cfg))
            self.build_networks()
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self._add_optimizer("actor", self.policy.parameters())
        self.build_optimizers()
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.updates = 0

    # -- what a method adds ---------------------------------------------------------------------------
    def build_networks(self) -> None:
        """Create the method's networks (after the actor, under the seeded RNG) with `_add_module`."""

    def build_optimizers(self) -> None:
        """Create optimisers for the method's networks with `_add_optimizer`."""

    def critic_phase(
        self, data: Rows, probs_old: torch.Tensor, value: torch.Tensor, out: dict[str, Any]
    ) -> torch.Tensor:
        """Train the critic side; return the actor's advantage Â (M, N), detached."""
        raise NotImplementedError

    def extra_actor_loss(self, data: Rows, value: torch.Tensor, out: dict[str, Any]) -> torch.Tensor | None:
        """A term added to the actor's loss (IL's value regression); None for most methods."""
        return None

    def subteams(self, data: Rows, generator: torch.Generator, greedy: bool = False) -> torch.Tensor | None:
        """Sub-team k (M, N) of every agent in the given steps, as training would assign it; None for
        methods without sub-teams. For pictures of a trained run (`vast evaluate --subteams`)."""
        return None

    # -- the shared skeleton --------------------------------------------------------------------------
    def mixed_precision(self):
        """Autocast for the per-agent networks' forward passes (actor, local Q-net, VASTNet trunk) when
        `algo.amp` is bf16; their outputs are cast back to float32 before any loss, softmax, sampling
        or mixing network. bfloat16 keeps float32's range, so no loss scaling is needed. Off by
        default, and then the update is exactly the float32 one."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.amp == "bf16")

    def _add_module(self, name: str, module: nn.Module) -> nn.Module:
        self.modules[name] = module.to(self.device)
        return self.modules[name]

    def _add_optimizer(self, name: str, params) -> None:
        self.optimizers[name] = torch.optim.Adam(list(params), lr=self.cfg.lr, fused=True)

    def update(self, batch: TrainingBatch, mode: str = "sync") -> dict[str, float]:
        """One update on every valid row of `batch`; returns losses and diagnostics as floats.

        In async mode the episodes may come from older policies (the learner's source already dropped
        those beyond the lag budget): every per-(transition, agent) policy-gradient term — the actor's
        and MetaGrad's — is weighted by the truncated ratio min(c, π(a_i | o_i) / μ(a_i | o_i)) of that
        agent's taken action (see docs/algorithms.md, "Async mode").
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        data = Rows.select(batch, batch.valid_rows())
        if self.cfg.sparse_inputs == "auto" and self.cfg.amp == "off":
            if not batch.sparse_decided:  # else the decoder's rows, or none because they would not pay
                data.obs = data.obs.with_sparse_rows()
        else:  # sparse rows asked off, or bfloat16 products (which sparse CSR products do not have)
            data.obs = TorchFeatures(data.obs.dense, data.obs.onehot)
            data.state_rows = None
        out: dict[str, Any] = {"rows": float(data.returns.shape[0])}
        with self.mixed_precision():
            log_probs, value = self.policy.log_probs_and_value(data.obs, data.alive)
        logp_taken = log_probs.gather(-1, data.actions.unsqueeze(-1)).squeeze(-1)
        if mode == "async":
            clip = self.cfg.importance_clip
            data.importance = al.importance_weights(logp_taken, data.behaviour_logp, clip)
            out["importance_weight_mean"] = al.masked_mean(data.importance, data.alive)
            out["importance_clipped_fraction"] = al.masked_mean((data.importance >= clip).float(), data.alive)
        advantage = self.critic_phase(data, log_probs.detach().exp(), value, out)
        self._actor_step(data, log_probs, logp_taken, value, advantage, mode, out)
        self.updates += 1
        return to_host(out)

    def _actor_step(self, data, log_probs, logp_taken, value, advantage, mode, out) -> None:
        cfg = self.cfg
        alive = data.alive
        if cfg.actor_loss == "ppo":
            # sync: π_old is this update's actor (ratio 1 at the single step); async: the behaviour policy.
            old = data.behaviour_logp if mode == "async" else logp_taken.detach()
            policy_loss = al.ppo_clip_loss(logp_taken, old, advantage, alive, cfg.ppo_clip)
        else:
            policy_loss = al.reinforce_loss(logp_taken, advantage, alive, data.importance)
        loss = policy_loss
        out["loss/policy"] = policy_loss.detach()
        extra = self.extra_actor_loss(data, value, out)
        if extra is not None:
            loss = loss + extra
        out["loss/actor"] = loss.detach()
        out["entropy"] = al.masked_mean(-(log_probs.exp() * log_probs).sum(-1), alive).detach()
        out["advantage_mean"] = al.masked_mean(advantage, alive)
        out["grad_norm/actor"] = self._step("actor", loss)

    def clip_norm(self, name: str) -> float:
        """The L2 norm optimiser `name` ("critic", "actor", "meta") is clipped to: `cfg.clip_<name>`, 0 = none.
        The reference clips only the critic: its actor's and MetaGrad's clip calls see no parameters."""
        return getattr(self.cfg, f"clip_{name}")

    def _step(self, name: str, loss: torch.Tensor) -> torch.Tensor:
        """zero_grad, backward, clip the gradient's L2 norm (per optimiser, `clip_norm`), Adam step;
        returns the pre-clip norm."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for group in opt.param_groups for p in group["params"]]
        clip = self.clip_norm(name)
        if clip > 0:
            norm = nn.utils.clip_grad_norm_(params, clip)
        else:
            norm = nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        opt.step()
        return norm.detach()

    # -- checkpoints ------------------------------------------------------------------------------------
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


def to_host(out: dict[str, Any]) -> dict[str, float]:
    """The update's results as Python floats, with one device-to-host transfer for all of them: on a
    GPU, a float() per value would wait for the device once per value. float32 values convert exactly."""
    keys = [key for key, value in out.items() if isinstance(value, torch.Tensor)]
    host = dict(out)
    if keys:
        stacked = torch.stack([out[key].detach().reshape(()).double() for key in keys])
        host.update(zip(keys, stacked.tolist()))
    return {key: float(value) for key, value in host.items()}
