"""The contract every domain implements: a batched, seeded, numpy environment plus its declared spec.

Why batched: an actor owns B copies of one domain and steps them together, so the hot path is one
vectorized call per step, never a Python loop over agents or copies.

Why a wire spec: observations are a deterministic function of a small world state. Each domain
declares the per-step arrays it puts on the wire (compact observations or the world state itself),
and `decode_batch` turns a stack of those arrays back into network inputs on the learner, with the
same env code. Replay validates incoming episodes against this declaration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np


class Features(NamedTuple):
    """Network input for a set of agents: a dense part and/or a one-hot part given by its index.

    The one-hot part is never materialized: a first Linear layer over [dense, onehot(index)] is
    `dense @ W_d + W_o[index] + b`, which `common.networks.InputLayer` computes. This is how
    GaussianSqueeze's N-wide agent-id one-hot costs O(N), not O(N^2), per step.
    Leading dims are free (e.g. (B, N) on the actor, (R, T, N) on the learner).
    """

    dense: np.ndarray | None  # (..., obs_dense_dim) float32, or None when obs_dense_dim == 0
    onehot: np.ndarray | None  # (...,) int64 index in [0, obs_onehot_dim), or None when obs_onehot_dim == 0
    # The dense part's nonzeros as CSR over its rows (the leading dims flattened): (crow int32, col int32,
    # val float32), columns ascending within a row. Only from a `decode_batch` asked for it, where the
    # decoder emits them as it writes the dense part (no separate scan); None otherwise.
    csr: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class ArraySpec:
    """One per-step wire array: dtype string and the shape of a single step (T is prepended)."""

    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class EnvSpec:
    """Everything the actor, replay and learner need to know about a domain instance."""

    name: str  # registry name, e.g. "gaussian-squeeze-200"
    n_agents: int
    n_actions: int
    obs_dense_dim: int  # width of the dense observation part (0 if none)
    obs_onehot_dim: int  # width of the one-hot observation part (0 if none)
    state_dim: int  # flattened global state width
    episode_limit: int  # time limit T_max
    gamma: float
    metric_name: str  # e.g. "performance", "completed orders", "kill count"
    wire: dict[str, ArraySpec] = field(default_factory=dict)  # domain arrays recorded each step
    options: dict[str, Any] = field(default_factory=dict)  # resolved domain options (mu, sigma, ...)

    @property
    def obs_dim(self) -> int:
        return self.obs_dense_dim + self.obs_onehot_dim


class StepResult(NamedTuple):
    team_reward: np.ndarray  # (B,) float32, or float64 where the range needs it: the cooperative reward
    done: np.ndarray  # (B,) bool: episode over for this copy (stays True until reset)


class BatchedEnv(Protocol):
    """B copies of one domain instance, stepped together.

    Life cycle: reset(seed) -> [observe/state/alive/positions/wire_step -> step(actions)]* until all done.
    A copy that is done ignores further actions and reports zero reward.
    """

    spec: EnvSpec
    batch_size: int

    def reset(self, seed: int) -> None: ...

    def observe(self) -> Features:  # leading dims (B, N)
        ...

    def state(self) -> np.ndarray:  # (B, state_dim) float32
        ...

    def alive(self) -> np.ndarray:  # (B, N) bool
        ...

    def positions(self) -> np.ndarray:  # (B, N, 2) int16 agent infos; (-1, -1) for dead agents
        ...

    def wire_step(self) -> dict[str, np.ndarray]:  # spec.wire arrays for the current step, leading dim B
        ...

    def step(self, actions: np.ndarray) -> StepResult:  # actions (B, N) integer
        ...

    def metric(self) -> np.ndarray:  # (B,) float64 domain metric accumulated this episode
        ...

    def event_counts(self) -> dict[str, np.ndarray]:  # name -> (B,) int64 episode totals of domain events
        ...


class EnvFamily(Protocol):
    """What a domain module exposes to the registry (see envs/registry.py)."""

    def make_spec(self, n_agents: int, **options: Any) -> EnvSpec: ...

    def make_env(self, spec: EnvSpec, batch_size: int) -> BatchedEnv: ...

    def decode_batch(
        self, spec: EnvSpec, wire: dict[str, np.ndarray], lead: tuple[int, int], sparse: bool = False
    ) -> tuple[Features, Features]:
        """Wire arrays with leading lead=(R, T) -> (observations with leading (R, T, N), state with
        leading (R, T)); the state is a dense-only `Features` (its `dense` (R, T, S)). With `sparse`,
        either may also carry `Features.csr` where the domain can emit it (Battle's observations,
        Warehouse's state)."""
        ...


def checked_actions(actions: np.ndarray, batch_size: int, n_agents: int) -> np.ndarray:
    """Actions as a (B, N) int64 array, or a clear error: every env's step() validates the same way."""
    actions = np.asarray(actions)
    if actions.shape != (batch_size, n_agents):
        raise ValueError(f"actions must have shape {(batch_size, n_agents)}, got {actions.shape}")
    return actions.astype(np.int64, copy=False)
