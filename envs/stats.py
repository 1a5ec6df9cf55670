"""Baseline statistics of a domain under a fixed policy: domain metric, team return, episode length.

Why: a trained curve means little without the random-policy level it starts from (and a sanity check
of a new or resized domain is "does random play look as expected"). Intervals are 95% normal-approximation
confidence intervals of the mean, mean ± 1.96 · s / sqrt(n) with the sample standard deviation s
(ddof = 1); with fewer than two episodes the interval is the single value.

Policies: "random" (uniform actions) and "noop" (action 0 everywhere). Besides the metric, the team return
and the episode length, every domain event the env counts (`event_counts()`: collisions and drop-offs,
hits, kills and residue survivals, the allocation) is summarized the same way.

Command line (`vast env-stats`): --env NAME --episodes K [--policy random] [--seed S] [--json].
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import numpy as np

from vast.envs.registry import make_env, make_spec

POLICIES = ("random", "noop")
Z95 = 1.959963984540054
DEFAULT_BATCH = 64


def summarize(values: np.ndarray) -> dict[str, Any]:
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    std = float(values.std(ddof=1)) if n > 1 else 0.0
    half = Z95 * std / math.sqrt(n) if n > 1 else 0.0
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n": n}


def play_episodes(
    name: str,
    episodes: int,
    policy: str = "random",
    seed: int = 0,
    batch: int = DEFAULT_BATCH,
    **options: Any,
) -> dict[str, np.ndarray]:
    """Per-episode arrays of `episodes` episodes played `batch` copies at a time: "metric", "return"
    (undiscounted team return, float64 sum of the float32 team rewards), "length", and every domain
    event count (`env.event_counts()`). Deterministic in (name, episodes, policy, seed, batch)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if episodes < 1 or batch < 1:
        raise ValueError("need at least one episode and one copy")
    spec = make_spec(name, **options)
    rng = np.random.default_rng(seed)
    chunks: list[dict[str, np.ndarray]] = []
    played, chunk = 0, 0
    while played < episodes:
        b = min(batch, episodes - played)
        env = make_env(spec, b)
        env.reset(seed * 1_000_003 + chunk)
        ret = np.zeros(b)
        length = np.zeros(b, dtype=np.int64)
        done = np.zeros(b, dtype=bool)
        for _ in range(spec.episode_limit):
            if policy == "random":
                actions = rng.integers(0, spec.n_actions, (b, spec.n_agents))
            else:
                actions = np.zeros((b, spec.n_agents), dtype=np.int64)
            result = env.step(actions)
            ret += np.where(done, 0.0, result.team_reward)
            length += ~done
            done |= result.done
            if done.all():
                break
        chunks.append({"metric": env.metric(), "return": ret, "length": length, **env.event_counts()})
        played += b
        chunk += 1
    return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}


def env_stats(
    name: str,
    episodes: int,
    policy: str = "random",
    seed: int = 0,
    batch: int = DEFAULT_BATCH,
    **options: Any,
) -> dict[str, Any]:
    """Play `episodes` episodes (batched) and summarize the metric, return, length and event counts."""
    spec = make_spec(name, **options)
    per_episode = play_episodes(name, episodes, policy, seed, batch, **options)
    return {
        "env": spec.name,
        "episodes": episodes,
        "policy": policy,
        "seed": seed,
        "metric_name": spec.metric_name,
        "interval": "95% normal approximation of the mean: mean +- 1.96 s / sqrt(n)",
        **{key: summarize(values) for key, values in per_episode.items()},
    }


def format_table(stats: dict[str, Any]) -> str:
    lines = [
        f"{stats['env']}: {stats['episodes']} episodes, policy {stats['policy']}, seed {stats['seed']}",
        f"{'':<28} {'mean':>12} {'std':>12} {'95% CI':>28}",
    ]
    labels = {
        "metric": stats["metric_name"],
        "return": "team return (undiscounted)",
        "length": "episode length",
    }
    events = [key for key, value in stats.items() if isinstance(value, dict) and key not in labels]
    for key, label in [*labels.items(), *((key, key.replace("_", " ")) for key in events)]:
        s = stats[key]
        ci = f"[{s['ci95'][0]:.4g}, {s['ci95'][1]:.4g}]"
        lines.append(f"{label:<28} {s['mean']:>12.4g} {s['std']:>12.4g} {ci:>28}")
    lines.append(f"({stats['interval']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="vast env-stats", description="Statistics of a domain under a fixed policy."
    )
    p.add_argument("--env", required=True, help="e.g. warehouse-16, battle-80, gaussian-squeeze-200")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--policy", default="random", choices=POLICIES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="environment copies played at once")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    stats = env_stats(args.env, args.episodes, args.policy, args.seed, args.batch)
    print(json.dumps(stats, indent=2) if args.json else format_table(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
