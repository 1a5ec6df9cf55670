"""Domain instances by name: `gaussian-squeeze-800`, `warehouse-16`, `battle-80`, and any other size.

Each family is a module exposing `make_spec(n_agents, **options)`, `make_env(spec, batch_size)` and
`decode_batch(spec, wire, lead)`; modules are imported lazily so a role only loads what it runs.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType
from typing import Any

from vast.envs.base import BatchedEnv, EnvSpec

FAMILIES: dict[str, str] = {
    "gaussian-squeeze": "vast.envs.gaussian_squeeze",
    "warehouse": "vast.envs.warehouse",
    "battle": "vast.envs.battle",
}
NAMED_INSTANCES = (
    "warehouse-4",
    "warehouse-8",
    "warehouse-16",
    "battle-20",
    "battle-40",
    "battle-80",
    "gaussian-squeeze-200",
    "gaussian-squeeze-400",
    "gaussian-squeeze-800",
)
_NAME = re.compile(r"^(?P<family>[a-z-]+?)-(?P<n>\d+)$")


def parse_name(name: str) -> tuple[str, int]:
    match = _NAME.match(name.strip().lower())
    if not match or match["family"] not in FAMILIES:
        known = ", ".join(f"{f}-<N>" for f in FAMILIES)
        raise ValueError(f"unknown environment {name!r}; expected one of: {known}")
    return match["family"], int(match["n"])


def family_module(name: str) -> ModuleType:
    family, _ = parse_name(name)
    return importlib.import_module(FAMILIES[family])


def make_spec(name: str, **options: Any) -> EnvSpec:
    family, n = parse_name(name)
    return importlib.import_module(FAMILIES[family]).make_spec(n, **options)


def make_env(spec: EnvSpec, batch_size: int) -> BatchedEnv:
    return family_module(spec.name).make_env(spec, batch_size)
