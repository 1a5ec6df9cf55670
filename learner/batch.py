"""The learner's view of a set of episodes: padded torch tensors on the training device.

This is the contract between the transport (which builds it from decoded episodes) and the
algorithms (which only ever see a TrainingBatch). Shapes use R = episodes, T = longest episode
in the batch, N = agents, S = state width, A = actions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vast.common.episode import Episode, episode_arrays
from vast.common.networks import TorchFeatures
from vast.envs.base import EnvSpec
from vast.envs.registry import family_module


@dataclass
class TrainingBatch:
    obs: TorchFeatures  # leading (R, T, N): what each agent's policy saw before acting
    state: torch.Tensor  # (R, T, S) float32 global state before acting
    actions: torch.Tensor  # (R, T, N) long
    rewards: torch.Tensor  # (R, T) float32 team reward (every agent receives it)
    returns: torch.Tensor  # (R, T) float32 Monte-Carlo discounted return G_t (standardised: see build_batch)
    valid: torch.Tensor  # (R, T) bool: step t exists in episode r (episodes may end early)
    alive: torch.Tensor  # (R, T, N) bool: agent alive before acting (dead agents masked in actor losses)
    positions: torch.Tensor  # (R, T, N, 2) float32 agent infos (x, y); (-1, -1) for dead agents
    behaviour_logp: torch.Tensor  # (R, T, N) float32 log pi_behaviour(a_i | o_i) recorded by the actor
    policy_version: torch.Tensor  # (R,) long version that produced each episode
    learner_version: (
        int  # version of the weights being updated (policy lag = learner_version - policy_version)
    )

    @property
    def n_episodes(self) -> int:
        return int(self.actions.shape[0])

    @property
    def n_steps(self) -> int:
        return int(self.valid.sum())

    @property
    def policy_lag(self) -> torch.Tensor:
        return self.learner_version - self.policy_version


@dataclass
class Rows:
    """A batch's usable (episode, step) rows, flattened: M = number of rows. What the losses consume."""

    obs: TorchFeatures  # leading (M, N)
    state: torch.Tensor  # (M, S)
    actions: torch.Tensor  # (M, N)
    returns: torch.Tensor  # (M,)
    alive: torch.Tensor  # (M, N)
    positions: torch.Tensor  # (M, N, 2)
    behaviour_logp: torch.Tensor  # (M, N)
    # async: truncated per-agent importance weights min(c, π/μ) of the taken actions (detached); None in sync
    importance: torch.Tensor | None = None

    @staticmethod
    def of_steps(
        obs: TorchFeatures, state: torch.Tensor, alive: torch.Tensor, positions: torch.Tensor
    ) -> Rows:
        """Rows for M observed steps with no action or return yet (sub-team pictures, evaluation)."""
        unknown = torch.zeros(alive.shape, dtype=torch.long, device=alive.device)
        return Rows(
            obs=obs,
            state=state,
            actions=unknown,
            returns=unknown[:, 0].float(),
            alive=alive,
            positions=positions.float(),
            behaviour_logp=unknown.float(),
        )

    @staticmethod
    def select(batch: TrainingBatch, rows: torch.Tensor) -> Rows:
        return Rows(
            obs=batch.obs.index(rows),
            state=batch.state[rows],
            actions=batch.actions[rows],
            returns=batch.returns[rows],
            alive=batch.alive[rows],
            positions=batch.positions[rows],
            behaviour_logp=batch.behaviour_logp[rows],
        )


def discounted_returns(rewards: torch.Tensor, valid: torch.Tensor, gamma: float) -> torch.Tensor:
    """G_t = r_t + gamma * G_{t+1} within each episode (padding contributes zero). O(T) vector ops."""
    rewards = rewards * valid
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    return returns


def standardised_returns(rewards: torch.Tensor, valid: torch.Tensor, gamma: float) -> torch.Tensor:
    """`return_norm batch`: G_t in float64, then (G − mean) / std over the batch's valid steps.

    Why: far from its optimum GaussianSqueeze pays ~1e-108 (N = 800), which float32 rounds to 0, so
    every return is equal and the actor's advantage carries no information about the action. In
    float64 the returns still differ by orders of magnitude between episodes; standardised, they give
    the critic (whose target this is) and the actor a signal of unit scale. Not the reference."""
    returns = discounted_returns(rewards.double(), valid, gamma)
    picked = returns[valid]
    spread = picked.std(correction=0) if picked.numel() > 1 else picked.new_zeros(())
    scale = spread.clamp_min(torch.finfo(torch.float64).tiny)
    return torch.where(valid, (returns - picked.mean()) / scale, 0.0).float()


def build_batch(
    episodes: list[Episode],
    spec: EnvSpec,
    device: torch.device | str,
    learner_version: int,
    return_norm: str = "none",
) -> TrainingBatch:
    """Pad episodes to a common length, re-derive observations/state with the env's own decoder,
    and move everything to the training device in one go. Rewards arrive in float64 and are rounded
    to float32 (the reference's precision) unless `return_norm` is "batch" (see standardised_returns)."""
    if not episodes:
        raise ValueError("cannot build a batch from zero episodes")
    r = len(episodes)
    t = max(ep.length for ep in episodes)
    arrays = episode_arrays(spec)
    padded = {name: np.zeros((r, t, *s.shape), dtype=s.dtype) for name, s in arrays.items()}
    valid = np.zeros((r, t), dtype=bool)
    for i, ep in enumerate(episodes):
        n = ep.length
        valid[i, :n] = True
        for name in arrays:
            padded[name][i, :n] = ep.arrays[name]
    family = family_module(spec.name)
    obs, state = family.decode_batch(spec, {k: padded[k] for k in spec.wire}, (r, t))
    valid_t = torch.from_numpy(valid).to(device)
    exact = torch.from_numpy(padded["rewards"]).to(device)
    rewards = exact.float()
    if return_norm == "batch":
        returns = standardised_returns(exact, valid_t, spec.gamma)
    elif return_norm == "none":
        returns = discounted_returns(rewards, valid_t, spec.gamma)
    else:
        raise ValueError(f"return_norm must be 'none' or 'batch', got {return_norm!r}")
    return TrainingBatch(
        obs=TorchFeatures.from_numpy(obs, device),
        state=torch.as_tensor(state, dtype=torch.float32, device=device),
        actions=torch.from_numpy(padded["actions"].astype(np.int64)).to(device),
        rewards=rewards,
        returns=returns,
        valid=valid_t,
        alive=torch.from_numpy(padded["alive"]).to(device) & valid_t.unsqueeze(-1),
        positions=torch.from_numpy(padded["positions"].astype(np.float32)).to(device),
        behaviour_logp=torch.from_numpy(padded["logp"]).to(device),
        policy_version=torch.tensor(
            [int(ep.header.get("policy_version", 0)) for ep in episodes], device=device
        ),
        learner_version=int(learner_version),
    )
