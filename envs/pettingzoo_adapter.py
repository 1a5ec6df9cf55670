"""PettingZoo ParallelEnv view of any registered domain (one copy of the batched env).

Why: lets standard MARL tooling (PettingZoo tests, wrappers, other libraries' trainers) drive the exact
same simulation the actors run. Agents are "agent_0" .. "agent_{N-1}"; observations are the flattened
channel-first vectors of `observe()` (GaussianSqueeze's one-hot id is materialized here); every live
agent receives the team reward. A Battle agent that dies is `terminated` and leaves `agents`; when an
army is wiped out every remaining agent is terminated; the time limit truncates (GaussianSqueeze's
single step terminates, since the task itself is one-shot).

Seeding: `reset(seed=s)` starts a deterministic sequence of episode seeds; `reset()` continues it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from vast.envs.registry import make_env, make_spec, parse_name


class VastParallelEnv(ParallelEnv):
    metadata = {"render_modes": ["rgb_array"], "name": "vast", "is_parallelizable": True}

    def __init__(self, name: str, render_mode: str | None = None, **options: Any):
        self.spec = make_spec(name, **options)
        self.family, _ = parse_name(name)
        self.env = make_env(self.spec, 1)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "name": self.spec.name}
        n = self.spec.n_agents
        self.possible_agents = [f"agent_{i}" for i in range(n)]
        self.agents: list[str] = []
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        high = float(max(n, 5))
        low = -1.0 if self.family == "warehouse" else 0.0  # warehouse state channel 0 holds type -1
        self._obs_space = spaces.Box(0.0, high, shape=(self.spec.obs_dim,), dtype=np.float32)
        self._act_space = spaces.Discrete(self.spec.n_actions)
        self.state_space = spaces.Box(low, high, shape=(self.spec.state_dim,), dtype=np.float32)
        self._seeder = np.random.default_rng()
        self._done = True

    def observation_space(self, agent: str) -> spaces.Box:  # one shared object, as PettingZoo requires
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    def _observations(self) -> dict[str, np.ndarray]:
        feats = self.env.observe()
        if feats.dense is not None:
            obs = feats.dense[0]
        else:
            obs = np.zeros((self.spec.n_agents, self.spec.obs_dim), dtype=np.float32)
        if feats.onehot is not None:
            rows = np.arange(self.spec.n_agents)
            obs = np.concatenate(
                [obs, np.zeros((self.spec.n_agents, self.spec.obs_onehot_dim), np.float32)], 1
            )
            obs[rows, self.spec.obs_dense_dim + feats.onehot[0]] = 1.0
        return {a: obs[self._index[a]].copy() for a in self.agents}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._seeder = np.random.default_rng(seed)
        self.env.reset(int(self._seeder.integers(2**62)))
        self.agents = self.possible_agents[:]
        self._done = False
        return self._observations(), {a: {} for a in self.agents}

    def _army_wiped(self) -> bool:
        if self.family != "battle":
            return self.spec.episode_limit == 1
        return not (self.env.ahp[0] > 0).any() or not (self.env.ohp[0] > 0).any()

    def step(self, actions: dict[str, int]):
        if self._done:
            raise RuntimeError("step() after the episode ended: call reset()")
        joint = np.zeros((1, self.spec.n_agents), dtype=np.int64)
        for agent, action in actions.items():
            joint[0, self._index[agent]] = int(action)
        result = self.env.step(joint)
        done = bool(result.done[0])
        reward = float(result.team_reward[0])
        alive = self.env.alive()[0]
        live = self.agents
        obs = self._observations()
        wiped = done and self._army_wiped()
        terminated = {a: bool(wiped or not alive[self._index[a]]) for a in live}
        truncated = {a: bool(done and not terminated[a]) for a in live}
        rewards = dict.fromkeys(live, reward)
        infos = {a: {} for a in live}
        self.agents = [a for a in live if not (terminated[a] or truncated[a])]
        self._done = done
        return obs, rewards, terminated, truncated, infos

    def state(self) -> np.ndarray:
        return self.env.state()[0]

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from vast.envs.render import render_frame

        return np.asarray(render_frame(self.env))

    def close(self) -> None:
        pass


def parallel_env(name: str, render_mode: str | None = None, **options: Any) -> VastParallelEnv:
    """A PettingZoo ParallelEnv for a registry name, e.g. parallel_env("battle-20", regen=0.01)."""
    return VastParallelEnv(name, render_mode=render_mode, **options)
