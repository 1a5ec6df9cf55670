"""GaussianSqueeze[N] (reference-spec §1.3): single-step resource allocation.

N agents each pick a_i in {0..9}; the team earns GS(x) = x * exp(-((x - mu) / sigma)^2) with x = sum a_i.
The observation is the agent's one-hot id, carried as an index (never an N x N matrix); the global state
is all zeros (the reference never writes it), so nothing domain-specific goes on the wire.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vast.envs.base import EnvSpec, Features, StepResult, checked_actions

N_ACTIONS = 10
DEFAULT_MU = 400.0
DEFAULT_SIGMA = 200.0


def gaussian_squeeze(
    x: np.ndarray | float, mu: float = DEFAULT_MU, sigma: float = DEFAULT_SIGMA
) -> np.ndarray:
    """System performance GS(x); the integer optimum for mu=400, sigma=200 is GS(445) = 423.0326."""
    x = np.asarray(x, dtype=np.float64)
    return x * np.exp(-(((x - mu) / sigma) ** 2))


def make_spec(n_agents: int, mu: float = DEFAULT_MU, sigma: float = DEFAULT_SIGMA, **_: Any) -> EnvSpec:
    if n_agents < 1:
        raise ValueError(f"gaussian-squeeze needs at least one agent, got {n_agents}")
    return EnvSpec(
        name=f"gaussian-squeeze-{n_agents}",
        n_agents=n_agents,
        n_actions=N_ACTIONS,
        obs_dense_dim=0,
        obs_onehot_dim=n_agents,
        state_dim=n_agents,
        episode_limit=1,
        gamma=1.0,
        metric_name="performance",
        wire={},
        options={"mu": float(mu), "sigma": float(sigma)},
    )


class GaussianSqueezeEnv:
    """B independent copies; every copy's episode is one step long."""

    def __init__(self, spec: EnvSpec, batch_size: int):
        self.spec = spec
        self.batch_size = batch_size
        self._mu = spec.options["mu"]
        self._sigma = spec.options["sigma"]
        self._done = np.zeros(batch_size, dtype=bool)
        self._metric = np.zeros(batch_size, dtype=np.float64)
        self._allocation = np.zeros(batch_size, dtype=np.int64)
        self._ids = np.tile(np.arange(spec.n_agents, dtype=np.int64), (batch_size, 1))

    def reset(self, seed: int) -> None:  # deterministic domain: the seed is accepted for the protocol
        self._done[:] = False
        self._metric[:] = 0.0
        self._allocation[:] = 0

    def observe(self) -> Features:
        return Features(dense=None, onehot=self._ids)

    def state(self) -> np.ndarray:
        return np.zeros((self.batch_size, self.spec.state_dim), dtype=np.float32)

    def alive(self) -> np.ndarray:
        return np.ones((self.batch_size, self.spec.n_agents), dtype=bool)

    def positions(self) -> np.ndarray:
        pos = np.zeros((self.batch_size, self.spec.n_agents, 2), dtype=np.int16)
        pos[..., 0] = np.arange(self.spec.n_agents, dtype=np.int16)
        return pos

    def wire_step(self) -> dict[str, np.ndarray]:
        return {}

    def step(self, actions: np.ndarray) -> StepResult:
        actions = checked_actions(actions, self.batch_size, self.spec.n_agents)
        total = actions.sum(axis=1, dtype=np.int64)
        gs = gaussian_squeeze(total, self._mu, self._sigma)
        # float64: far from mu, GS is below float32's range (1e-108 at N = 800); the learner rounds it
        # to float32 as the reference does unless `algo.return_norm` asks for the exact value
        reward = np.where(self._done, 0.0, gs)
        self._metric = np.where(self._done, self._metric, gs)
        self._allocation = np.where(self._done, self._allocation, total)
        self._done[:] = True
        return StepResult(team_reward=reward, done=self._done.copy())

    def metric(self) -> np.ndarray:
        return self._metric.copy()

    def event_counts(self) -> dict[str, np.ndarray]:
        """The episode's joint allocation x = sum of the actions, (B,) int64."""
        return {"allocation": self._allocation.copy()}


def make_env(spec: EnvSpec, batch_size: int) -> GaussianSqueezeEnv:
    return GaussianSqueezeEnv(spec, batch_size)


def decode_batch(
    spec: EnvSpec, wire: dict[str, np.ndarray], lead: tuple[int, int], sparse: bool = False
) -> tuple[Features, Features]:
    r, t = lead
    ids = np.tile(np.arange(spec.n_agents, dtype=np.int64), (r, t, 1))
    state = np.zeros((r, t, spec.state_dim), dtype=np.float32)
    return Features(dense=None, onehot=ids), Features(dense=state, onehot=None)
