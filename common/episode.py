"""An episode as it travels: a small header plus named per-step arrays (leading dim T).

Every episode carries the arrays every algorithm needs (`STANDARD_ARRAYS`) and the domain's own wire
arrays (`EnvSpec.wire`), from which the learner re-derives observations and state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vast.envs.base import ArraySpec, EnvSpec

SCHEMA_VERSION = 2  # 2: rewards are float64 (GaussianSqueeze's rewards span 1e-108 .. 423)


def standard_arrays(spec: EnvSpec) -> dict[str, ArraySpec]:
    """Per-step arrays recorded for every domain, with the compact dtypes used on the wire."""
    action_dtype = "uint8" if spec.n_actions <= 256 else "int16"
    return {
        "actions": ArraySpec(action_dtype, (spec.n_agents,)),
        "logp": ArraySpec("float32", (spec.n_agents,)),  # behaviour log-prob of the taken action
        "rewards": ArraySpec("float64", ()),  # team reward of the step (exact: see `return_norm`)
        "alive": ArraySpec("bool", (spec.n_agents,)),  # alive before acting
        "positions": ArraySpec("int16", (spec.n_agents, 2)),  # agent infos before acting
    }


def episode_arrays(spec: EnvSpec) -> dict[str, ArraySpec]:
    arrays = standard_arrays(spec)
    clash = set(arrays) & set(spec.wire)
    if clash:
        raise ValueError(f"{spec.name}: wire arrays {sorted(clash)} clash with standard array names")
    arrays.update(spec.wire)
    return arrays


@dataclass
class Episode:
    """Header fields: schema, env, run, actor_id, episode_id, policy_version, length, n_agents, seed,
    slot (sync work slot, -1 in async), metric (domain metric of the episode), ret (undiscounted return)."""

    header: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Globally unique id used for de-duplication: actor id and per-actor sequence number."""
        return f"{self.header['actor_id']}:{self.header['episode_id']}"

    @property
    def length(self) -> int:
        return int(self.header["length"])

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())
