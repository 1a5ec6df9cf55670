"""The learning methods: VAST(Ψ, X, η) and the flat baselines IL, VDN, QMIX, QTRAN.

`build_algorithm(cfg, spec, device, seed)` looks the method up in `vast.common.algorithms.METHODS`
and returns an object with `.policy` (the network whose weights go to actors), `.update(batch, mode)`
and `.state_dict()` / `.load_state_dict()`.
"""

from __future__ import annotations

import torch

from vast.common.algorithms import METHODS
from vast.common.config import AlgoConfig
from vast.envs.base import EnvSpec
from vast.learner.algos.base import PolicyGradientMethod


def build_algorithm(
    cfg: AlgoConfig, spec: EnvSpec, device: torch.device | str, seed: int
) -> PolicyGradientMethod:
    """Networks are initialised from `seed` alone (the global torch RNG is left as it was)."""
    return METHODS.load(cfg.algo)(cfg.normalized(), spec, device, seed)


__all__ = ["PolicyGradientMethod", "build_algorithm"]
