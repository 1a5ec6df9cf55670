"""Run B copies of an environment with a policy and cut the result into episodes.

The same code serves actor processes, the learner's evaluation and the in-process (serial) episode
source, so what is trained on is produced by exactly one code path. Vectorized over copies and agents:
one policy forward and one env step per time step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vast.common.episode import SCHEMA_VERSION, Episode, standard_arrays
from vast.common.networks import PolicyNet, TorchFeatures, uniform_log_probs
from vast.envs.base import BatchedEnv, EnvSpec, Features
from vast.envs.registry import make_env


@dataclass
class RolloutStats:
    env_steps: int  # copy-steps actually simulated
    agent_steps: int


def draw_categorical(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One index per row of `probs` (R, A), drawn as `torch.multinomial(probs, 1, generator=generator)`
    draws it on the CPU: argmax(p / q) with q ~ Exp(1) from the same generator, the same numbers in the
    same order, hence the same indices. Without multinomial's input checks, each of which waits for a
    reduction (a third of its time on small batches); `rollout` checks the log-probabilities instead."""
    q = torch.empty_like(probs).exponential_(generator=generator)
    return torch.div(probs, q, out=q).argmax(-1)


def sample_actions(
    policy: PolicyNet,
    env: BatchedEnv,
    generator: torch.Generator,
    greedy: bool = False,
    active: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One action per agent per copy, sampled (or the argmax when `greedy`, drawing nothing from
    `generator`); returns (actions, logp of taken action, alive).

    The policy runs only on the rows whose output is used: alive agents of the copies still playing
    (`active`, default all). A dead agent's probabilities are uniform whatever its observation, and a
    finished copy's step is not recorded, so those rows get the uniform −log A without a forward; a
    Battle rollout is mostly such rows (a fifth of its rows are alive agents of copies still playing,
    at the initial policy). Actions are still drawn for every row, so the draws are the same numbers.
    """
    alive = env.alive()
    features = env.observe()
    needed = alive if active is None else alive & active[:, None]
    with torch.inference_mode():
        if needed.all():
            log_probs = policy.act_log_probs(TorchFeatures.from_numpy(features), torch.from_numpy(alive))
            flat = log_probs.reshape(-1, log_probs.shape[-1])
        else:
            flat = _needed_log_probs(policy, features, needed.reshape(-1))
        actions = flat.argmax(-1) if greedy else draw_categorical(flat.exp(), generator)
        taken = flat.gather(1, actions.unsqueeze(1)).squeeze(1)
    shape = alive.shape
    return actions.reshape(shape).numpy(), taken.reshape(shape).numpy(), alive


def _needed_log_probs(policy: PolicyNet, features: Features, needed: np.ndarray) -> torch.Tensor:
    """Log-probabilities (rows, A) over the flattened agents: the policy's for the `needed` rows, the
    uniform distribution's (exactly as `mask_dead` writes it) for the others."""
    rows = np.flatnonzero(needed)
    flat = uniform_log_probs(needed.shape[0], policy.policy_head.out_features)
    if rows.size:
        dense = None if features.dense is None else features.dense.reshape(-1, features.dense.shape[-1])
        onehot = None if features.onehot is None else features.onehot.reshape(-1)
        picked = Features(None if dense is None else dense[rows], None if onehot is None else onehot[rows])
        everyone = torch.ones(rows.size, dtype=torch.bool)
        flat[torch.from_numpy(rows)] = policy.act_log_probs(TorchFeatures.from_numpy(picked), everyone)
    return flat


def rollout(
    env: BatchedEnv,
    policy: PolicyNet,
    seed: int,
    generator: torch.Generator,
    header: dict | None = None,
    greedy: bool = False,
    observer: Callable[[BatchedEnv, int], None] | None = None,
) -> tuple[list[Episode], RolloutStats]:
    """Play one episode in each of env's B copies; returns B episodes (header fields filled in).

    greedy: argmax actions instead of samples (evaluation). observer(env, t) is called before every
    step and once after the last (t = length), e.g. to render frames."""
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
        if observer is not None:
            observer(env, t)
        active = ~done
        actions, logp, alive = sample_actions(policy, env, generator, greedy, active)
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
    if observer is not None:
        observer(env, int(lengths.max()))
    if not np.isfinite(buffers["logp"]).all():
        raise FloatingPointError(
            f"{spec.name}: the policy gave non-finite action probabilities (are its weights NaN?)"
        )
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
            # summed in float32, as the reference logs returns (learning uses the float64 rewards)
            "ret": float(arrays["rewards"].astype(np.float32).sum()),
        }
        head.update(header or {})
        episodes.append(Episode(header=head, arrays=arrays))
    return episodes, RolloutStats(env_steps=env_steps, agent_steps=env_steps * spec.n_agents)


class EpisodePlayer:
    """Plays batches of episodes as one actor: environment copies are built once per batch size and
    reset for every batch; every episode is stamped with its run, actor, policy version, work slot and
    an episode id that stays unique across restarts (a random incarnation in the high bits)."""

    def __init__(self, spec: EnvSpec, policy: PolicyNet, run: str, actor_id: int):
        self.spec = spec
        self.policy = policy
        self.run = run
        self.actor_id = actor_id
        self.incarnation = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        self.seq = 0
        self._envs: dict[int, BatchedEnv] = {}

    def env(self, n_copies: int) -> BatchedEnv:
        if n_copies not in self._envs:
            self._envs[n_copies] = make_env(self.spec, n_copies)
        return self._envs[n_copies]

    def play(
        self, n_copies: int, seed: int, slots: list[int], version: int
    ) -> tuple[list[Episode], RolloutStats]:
        """One episode per copy, seeded by `seed`; `slots[i]` is copy i's sync work slot (-1: none)."""
        header = {"run": self.run, "actor_id": self.actor_id, "policy_version": version}
        generator = torch.Generator().manual_seed(seed)
        episodes, stats = rollout(self.env(n_copies), self.policy, seed, generator, header)
        for episode, slot in zip(episodes, slots):
            episode.header["slot"] = slot
            episode.header["episode_id"] = (self.incarnation << 32) | self.seq
            self.seq += 1
        return episodes, stats
