"""Run B copies of an environment with a policy and cut the result into episodes.

The same function serves actor processes, the learner's evaluation and in-process tests (the serial
topology), so what is trained on is produced by exactly one code path. Vectorized over copies and
agents: one policy forward and one env step per time step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from common.episode import SCHEMA_VERSION, Episode, standard_arrays
from common.networks import PolicyNet, TorchFeatures, masked_log_probs
from envs.base import BatchedEnv


@dataclass
class RolloutStats:
    env_steps: int  # copy-steps actually simulated
    agent_steps: int


def sample_actions(
    policy: PolicyNet, env: BatchedEnv, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample one action per agent per copy; returns (actions, logp of taken action, alive)."""
    alive = env.alive()
    obs = TorchFeatures.from_numpy(env.observe())
    with torch.inference_mode():
        logits, _ = policy(obs)
        log_probs = masked_log_probs(logits, torch.from_numpy(alive))
        flat = log_probs.reshape(-1, log_probs.shape[-1])
        actions = torch.multinomial(flat.exp(), 1, generator=generator).squeeze(-1)
        taken = flat.gather(1, actions.unsqueeze(1)).squeeze(1)
    shape = alive.shape
    return actions.reshape(shape).numpy(), taken.reshape(shape).numpy(), alive


def rollout(
    env: BatchedEnv,
    policy: PolicyNet,
    seed: int,
    generator: torch.Generator,
    header: dict | None = None,
) -> tuple[list[Episode], RolloutStats]:
    """Play one episode in each of env's B copies; returns B episodes (header fields filled in)."""
    spec = env.spec
    env.reset(seed)
    b, t_max = env.batch_size, spec.episode_limit
    std = standard_arrays(spec)
    buffers = {name: np.zeros((b, t_max, *s.shape), dtype=s.dtype) for name, s in std.items()}
    buffers.update({name: np.zeros((b, t_max, *s.shape), dtype=s.dtype) for name, s in spec.wire.items()})
    lengths = np.zeros(b, dtype=np.int64)
    done = np.zeros(b, dtype=bool)
    env_steps = 0
    for t in range(t_max):
        active = ~done
        actions, logp, alive = sample_actions(policy, env, generator)
        buffers["actions"][:, t] = actions
        buffers["logp"][:, t] = logp
        buffers["alive"][:, t] = alive
        buffers["positions"][:, t] = env.positions()
        for name, value in env.wire_step().items():
            buffers[name][:, t] = value
        result = env.step(actions)
        buffers["rewards"][:, t] = np.where(active, result.team_reward, 0.0)
        lengths[active] = t + 1
        env_steps += int(active.sum())
        done = done | result.done
        if done.all():
            break
    metric = env.metric()
    episodes = []
    for i in range(b):
        n = int(lengths[i])
        arrays = {name: np.ascontiguousarray(buf[i, :n]) for name, buf in buffers.items()}
        head = {
            "schema": SCHEMA_VERSION,
            "env": spec.name,
            "length": n,
            "n_agents": spec.n_agents,
            "seed": int(seed),
            "copy": i,
            "metric": float(metric[i]),
            "ret": float(arrays["rewards"].sum()),
        }
        head.update(header or {})
        episodes.append(Episode(header=head, arrays=arrays))
    return episodes, RolloutStats(env_steps=env_steps, agent_steps=env_steps * spec.n_agents)
