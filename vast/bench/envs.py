"""Environment stepping: agent-steps per second of `step` + `observe` (what an actor needs), one thread.

Random actions are drawn outside the timed region (a pool of pre-drawn episodes, cycled); only copies
still running count (done copies are free); `reset` at episode starts is timed. A second figure adds
`wire_step` (the compact arrays an episode ships). The first episode warms up (numba compilation).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from vast.envs.registry import make_env, make_spec


def measure(name: str, batch: int, seconds: float, with_wire: bool, seed: int = 0) -> float:
    """Agent-steps per second over whole episodes until `seconds` of timed env work have elapsed."""
    spec = make_spec(name)
    env = make_env(spec, batch)
    rng = np.random.default_rng(seed)
    n = spec.n_agents
    timed = 0.0
    agent_steps = 0
    episode = 0
    # a pool of pre-drawn episodes' actions, cycled: drawing them is not what is measured, and for
    # one-step episodes (GaussianSqueeze) drawing per episode would dominate the wall time
    pool = [
        rng.integers(0, spec.n_actions, size=(spec.episode_limit, batch, n), dtype=np.int64)
        for _ in range(max(1, min(8, 64 // spec.episode_limit)))
    ]
    while episode == 0 or timed < seconds:
        actions = pool[episode % len(pool)]
        t0 = time.perf_counter()
        env.reset(seed + episode)
        active = np.ones(batch, dtype=bool)
        count = 0
        for t in range(spec.episode_limit):
            env.observe()
            if with_wire:
                env.wire_step()
            count += int(active.sum())
            result = env.step(actions[t])
            active = ~result.done
            if not active.any():
                break
        timed += time.perf_counter() - t0
        agent_steps += count * n
        episode += 1
    return agent_steps / timed


def env_rates(name: str, batch: int, seconds: float, repeats: int) -> dict:
    """Median agent-steps/s without and with `wire_step`, after one warm-up episode."""
    measure(name, batch, 0.0, True)  # warm-up episode: compile / load numba caches
    plain = statistics.median(measure(name, batch, seconds, False) for _ in range(repeats))
    wire = statistics.median(measure(name, batch, seconds, True) for _ in range(repeats))
    return {"agent_steps_per_s": plain, "with_wire_per_s": wire}
