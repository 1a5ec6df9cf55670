"""The learner's view of a set of episodes: torch tensors on the training device.

This is the contract between the transport (which builds it from decoded episodes) and the
algorithms (which only ever see a TrainingBatch). Shapes use R = episodes, T = longest episode
in the batch, M = valid (episode, step) rows, N = agents, S = state width, A = actions.

Observations and state, by far the largest fields, are decoded for the M valid rows only, in
`valid_rows()` order: padding them to (R, T) cost a decode of rows nobody trains on and then a gather
of the valid ones (at Battle-80, 10 episodes padded to 100 steps hold ~40% padding, and the
observations are 36 MB). The small per-step fields stay padded (R, T, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vast.common.episode import Episode, episode_arrays
from vast.common.networks import TorchFeatures
from vast.common.sparse import SparseRows
from vast.envs.base import EnvSpec
from vast.envs.registry import family_module


@dataclass
class TrainingBatch:
    obs: TorchFeatures  # leading (M, N): what each agent's policy saw before acting, valid rows only
    state: torch.Tensor  # (M, S) float32 global state before acting, valid rows only
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
    # (M,) long: flat indices r·T + t of the valid steps, computed on the host when the batch is built,
    # so selecting them on a GPU needs no device-to-host round trip (a boolean mask would)
    valid_index: torch.Tensor | None = None
    # build_batch asked the decoder for sparse observation rows: if none are held, they would not pay
    # (a dense domain, or too many nonzeros), so the update need not scan the dense rows again
    sparse_decided: bool = False
    # the state's nonzeros as sparse rows, where the decoder emitted them and they pay (Warehouse)
    state_rows: SparseRows | None = None

    def valid_rows(self) -> torch.Tensor:
        """The flat indices of the valid (episode, step) rows (see `valid_index`)."""
        if self.valid_index is not None:
            return self.valid_index
        return self.valid.flatten().nonzero().squeeze(1)

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
    state_rows: SparseRows | None = None  # `state`'s nonzeros, when the batch holds them

    @property
    def state_input(self) -> TorchFeatures:
        """The state as a network input: its first layers multiply only the nonzeros when held."""
        return TorchFeatures(self.state, None, self.state_rows)

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
        """The valid rows: `rows` are their flat (episode, step) indices (`TrainingBatch.valid_rows`).
        Observations and state already hold exactly these rows; of the padded fields, every row of an
        unpadded batch is taken as a view, otherwise one contiguous gather per field."""
        r, t = batch.valid.shape
        m = batch.state.shape[0]
        if rows.numel() != m or batch.state.dim() != 2:
            raise ValueError(
                f"a batch holds observations and state of its {m} valid rows only; asked for {rows.numel()}"
            )

        def take(x: torch.Tensor) -> torch.Tensor:
            flat = x.flatten(0, 1)
            return flat if rows.numel() == r * t else flat.index_select(0, rows)

        return Rows(
            obs=batch.obs,
            state=batch.state,
            actions=take(batch.actions),
            returns=take(batch.returns),
            alive=take(batch.alive),
            positions=take(batch.positions),
            behaviour_logp=take(batch.behaviour_logp),
            state_rows=batch.state_rows,
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
    sparse_rows: bool = False,
) -> TrainingBatch:
    """Pad episodes to a common length, re-derive observations/state with the env's own decoder,
    and move everything to the training device in one go. Rewards arrive in float64 and are rounded
    to float32 (the reference's precision) unless `return_norm` is "batch" (see standardised_returns).

    sparse_rows: on the CPU, also hold the nonzeros of the observations and of the state as sparse
    rows where the domain's decoder emits them and they pay (`SparseRows.from_csr`), for the update's
    first layers."""
    if not episodes:
        raise ValueError("cannot build a batch from zero episodes")
    r = len(episodes)
    t = max(ep.length for ep in episodes)
    arrays = {name: s for name, s in episode_arrays(spec).items() if name not in spec.wire}
    padded = {name: np.zeros((r, t, *s.shape), dtype=s.dtype) for name, s in arrays.items()}
    valid = np.zeros((r, t), dtype=bool)
    for i, ep in enumerate(episodes):
        n = ep.length
        valid[i, :n] = True
        for name in arrays:
            padded[name][i, :n] = ep.arrays[name]
    m = int(valid.sum())
    # the valid steps, episode by episode: the order of valid_rows()
    wire = {name: np.concatenate([ep.arrays[name] for ep in episodes])[None] for name in spec.wire}
    family = family_module(spec.name)
    device = torch.device(device)
    sparse_rows = sparse_rows and device.type == "cpu"
    obs, state = family.decode_batch(spec, wire, (1, m), sparse=sparse_rows)
    held = None if obs.csr is None else SparseRows.from_csr(*obs.csr, obs.dense.shape[-1])
    state_held = None if state.csr is None else SparseRows.from_csr(*state.csr, state.dense.shape[-1])
    valid_t = to_device(valid, device)
    exact = to_device(padded["rewards"], device)
    rewards = exact.float()
    if return_norm == "batch":
        returns = standardised_returns(exact, valid_t, spec.gamma)
    elif return_norm == "none":
        returns = discounted_returns(rewards, valid_t, spec.gamma)
    else:
        raise ValueError(f"return_norm must be 'none' or 'batch', got {return_norm!r}")
    return TrainingBatch(
        obs=TorchFeatures(
            None if obs.dense is None else to_device(obs.dense[0], device, np.float32),
            None if obs.onehot is None else to_device(obs.onehot[0], device, np.int64),
            held,
        ),
        state=to_device(state.dense[0], device, np.float32),
        actions=to_device(padded["actions"], device, np.int64),
        rewards=rewards,
        returns=returns,
        valid=valid_t,
        alive=to_device(padded["alive"], device) & valid_t.unsqueeze(-1),
        positions=to_device(padded["positions"], device, np.float32),
        behaviour_logp=to_device(padded["logp"], device),
        policy_version=to_device(
            np.array([int(ep.header.get("policy_version", 0)) for ep in episodes], dtype=np.int64), device
        ),
        learner_version=int(learner_version),
        valid_index=to_device(np.flatnonzero(valid), device, np.int64),
        sparse_decided=sparse_rows,
        state_rows=state_held,
    )


def to_device(array: np.ndarray, device: torch.device, dtype: type | None = None) -> torch.Tensor:
    """A host array as a tensor on `device`: shared, not copied, on the CPU; to a GPU through pinned
    (page-locked) memory with an asynchronous copy, so building the next batch overlaps the transfer
    and the update never waits on a pageable-memory copy."""
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cpu":
        return tensor
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)
