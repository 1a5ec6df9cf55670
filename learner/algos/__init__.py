"""The learning algorithms: VAST(Ψ, X, η) and the flat baselines IL, VDN, QMIX, QTRAN.

`build_algorithm(cfg, spec, device, seed)` returns an `Algorithm` with `.policy` (the PolicyNet whose
weights go to actors), `.update(batch, mode, max_policy_lag)` and `.state_dict()` / `.load_state_dict()`.
"""

from __future__ import annotations

import torch

from common.config import AlgoConfig
from envs.base import EnvSpec
from learner.algos.algorithm import Algorithm


def build_algorithm(cfg: AlgoConfig, spec: EnvSpec, device: torch.device | str, seed: int) -> Algorithm:
    """Networks are initialised from `seed` alone (the global torch RNG is left as it was)."""
    return Algorithm(cfg, spec, device, seed)


__all__ = ["Algorithm", "build_algorithm"]
