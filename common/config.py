"""One typed configuration for every role, resolved as: defaults < file < environment < flags.

Keys are `section.field` (e.g. `learner.mode`, `algo.eta`). A config file is YAML or JSON with the same
nesting; environment variables are `VAST_SECTION__FIELD`; flags are `--section.field VALUE`. An unknown key
anywhere is an error, never silently ignored. The resolved config is saved with every run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration key or value is not acceptable."""


@dataclass
class RunConfig:
    name: str = ""  # run id; also the Redis key prefix vast:{name}:...; empty -> generated
    seed: int = 0
    dir: str = "runs"  # parent folder of run directories
    updates: int = 0  # stop after this many learner updates (0 = no limit)
    minutes: float = 0.0  # stop after this many minutes of wall time (0 = no limit)


@dataclass
class EnvConfig:
    name: str = "gaussian-squeeze-200"
    mu: float = 400.0  # GaussianSqueeze
    sigma: float = 200.0  # GaussianSqueeze
    battle_regen: float = 0.1  # Battle HP regeneration per turn (code: 0.1; paper: 0.01)
    warehouse_start: str = "dropoff"  # Warehouse start cells: "dropoff" (code) or "stations" (paper)

    def options(self, family: str) -> dict[str, Any]:
        if family == "gaussian-squeeze":
            return {"mu": self.mu, "sigma": self.sigma}
        if family == "battle":
            return {"regen": self.battle_regen}
        if family == "warehouse":
            return {"start": self.warehouse_start}
        return {}


@dataclass
class AlgoConfig:
    algo: str = "vast"  # vast | qtran | qmix | il  (flat methods are VAST with K = N, identity assignment)
    mixer: str = ""  # il | vdn | qmix | qtran (operator Psi); empty: qtran for vast, the algo's own otherwise
    assign: str = (
        ""  # random | fixed | spatial | metagrad | identity; empty: metagrad for vast, identity otherwise
    )
    eta: float = 0.25  # K = ceil(eta * N)
    spatial_centroids: str = "k"  # "k" (code) or "half" (paper: K/2)
    qtran_squared_opt: bool = False  # paper's squared L_opt instead of the code's linear one
    actor_loss: str = "reinforce"  # reinforce | ppo
    ppo_clip: float = 0.2
    lr: float = 1e-3
    grad_clip: float = 1.0
    actor_hidden: int = 64
    critic_hidden: int = 128
    importance_clip: float = 1.0  # async: clip of pi/mu on the policy-gradient term

    def n_subteams(self, n_agents: int) -> int:
        if self.algo != "vast":
            return n_agents
        return max(1, math.ceil(self.eta * n_agents - 1e-9))


@dataclass
class ActorConfig:
    id: int = 0
    batch_envs: int = 0  # environment copies per actor; 0 = enough for its share of a sync batch
    replay_addr: str = "tcp://127.0.0.1:5555"  # where episodes go
    weights_addr: str = "tcp://127.0.0.1:5556"  # where versioned weights are published
    ack_timeout_s: float = 5.0  # resend an unacknowledged episode after this long
    max_in_flight: int = 64  # episodes sent but not yet acknowledged
    weight_wait_s: float = 2.0  # sync mode: poll Redis for weights after this long without a broadcast
    metrics_port: int = 0  # 0 = pick a free port


@dataclass
class ReplayConfig:
    bind: str = "tcp://127.0.0.1:5555"
    max_episode_bytes: int = 64 * 1024 * 1024
    max_backlog: int = 2000  # unconsumed episodes in Redis beyond which replay stops acking (back-pressure)
    dedupe_ttl_s: int = 24 * 3600
    metrics_port: int = 0


@dataclass
class LearnerConfig:
    mode: str = "sync"  # sync (paper-faithful, reproducible) | async (throughput)
    episodes_per_update: int = 10  # E: one batch = one update
    max_policy_lag: int = 4  # async: drop older episodes
    eval_every: int = 1  # run evaluation every this many updates (0 = never)
    eval_episodes: int = 10
    checkpoint_every: int = 100  # updates; the final checkpoint is always written
    weights_bind: str = "tcp://127.0.0.1:5556"
    device: str = "auto"  # auto | cpu | cuda
    torch_threads: int = 1
    read_timeout_s: float = 1.0  # one blocking Redis read at most this long, then re-check stop flags
    metrics_port: int = 0
    resume: str = ""  # checkpoint path to resume from


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    actor: ActorConfig = field(default_factory=ActorConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    redis_url: str = ""  # empty -> `vast train` starts an embedded Redis
    actors: int = 2  # `vast train`: number of local actor processes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    def validate(self) -> Config:
        """Reject values and combinations that cannot run, with a message that says why."""
        if not self.algo.mixer:
            self.algo.mixer = "qtran" if self.algo.algo == "vast" else self.algo.algo
        if not self.algo.assign:
            self.algo.assign = "metagrad" if self.algo.algo == "vast" else "identity"
        choices = {
            "learner.mode": (self.learner.mode, {"sync", "async"}),
            "algo.algo": (self.algo.algo, {"vast", "qtran", "qmix", "vdn", "il"}),
            "algo.mixer": (self.algo.mixer, {"il", "vdn", "qmix", "qtran"}),
            "algo.assign": (self.algo.assign, {"random", "fixed", "spatial", "metagrad", "identity"}),
            "algo.spatial_centroids": (self.algo.spatial_centroids, {"k", "half"}),
            "algo.actor_loss": (self.algo.actor_loss, {"reinforce", "ppo"}),
            "env.warehouse_start": (self.env.warehouse_start, {"dropoff", "stations"}),
        }
        for key, (value, allowed) in choices.items():
            if value not in allowed:
                raise ConfigError(f"{key} must be one of {sorted(allowed)}, got {value!r}")
        if not 0.0 < self.algo.eta <= 1.0:
            raise ConfigError(f"algo.eta must be in (0, 1], got {self.algo.eta}")
        if self.algo.algo != "vast" and self.algo.algo != self.algo.mixer:
            # Flat methods name their operator themselves: --algo qmix means mixer qmix.
            raise ConfigError(
                f"--algo {self.algo.algo} is a flat baseline with its own operator; "
                f"drop --mixer {self.algo.mixer} or use --algo vast --mixer {self.algo.mixer}"
            )
        if self.algo.algo != "vast" and self.algo.assign != "identity":
            raise ConfigError(
                f"--algo {self.algo.algo} is flat (K = N, identity assignment); "
                f"--assign {self.algo.assign} needs --algo vast"
            )
        if self.algo.assign == "identity" and self.algo.algo == "vast" and self.algo.eta != 1.0:
            raise ConfigError("--assign identity puts every agent in its own sub-team: it needs --eta 1")
        if self.learner.episodes_per_update < 1:
            raise ConfigError("learner.episodes_per_update must be >= 1")
        if self.actors < 1:
            raise ConfigError("actors must be >= 1")
        if self.run.updates < 0 or self.run.minutes < 0:
            raise ConfigError("run.updates and run.minutes must be >= 0")
        from envs.registry import parse_name

        parse_name(self.env.name)
        return self


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, target: Any, key: str) -> Any:
    """Turn a string (env var / flag) or a parsed file value into the field's declared type."""
    if isinstance(target, types.UnionType):
        target = next(t for t in typing.get_args(target) if t is not type(None))
    try:
        if target is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if target is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"not an integer: {value!r}")
            return int(float(value)) if isinstance(value, str) and "e" in value.lower() else int(value)
        if target is float:
            return float(value)
        if target is str:
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad value for {key}: {exc}") from None
    raise ConfigError(f"{key}: unsupported field type {target}")


def set_key(cfg: Config, key: str, value: Any) -> None:
    """Set `section.field` (or a top-level field) with type coercion; unknown keys raise ConfigError."""
    parts = key.replace("-", "_").split(".")
    obj: Any = cfg
    for i, part in enumerate(parts):
        hints = _field_types(type(obj))
        if part not in hints:
            where = ".".join(parts[:i]) or "top level"
            known = ", ".join(sorted(hints))
            raise ConfigError(f"unknown config key {key!r} ({part!r} is not in {where}; known: {known})")
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(hints[part]):
                if not isinstance(value, dict):
                    raise ConfigError(f"{key} is a section; give it a mapping")
                for sub, subval in value.items():
                    set_key(cfg, f"{key}.{sub}", subval)
            else:
                setattr(obj, part, _coerce(value, hints[part], key))
        else:
            obj = getattr(obj, part)
            if not dataclasses.is_dataclass(obj):
                raise ConfigError(f"unknown config key {key!r}: {part!r} is not a section")


def apply_mapping(cfg: Config, mapping: dict[str, Any], prefix: str = "") -> None:
    for key, value in mapping.items():
        set_key(cfg, f"{prefix}{key}", value)


def load_file(cfg: Config, path: str | Path) -> None:
    text = Path(path).read_text()
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at top level")
    apply_mapping(cfg, data)


def apply_environment(cfg: Config, environ: dict[str, str] | None = None) -> None:
    """VAST_LEARNER__MODE=async sets learner.mode; VAST_REDIS_URL sets redis_url."""
    environ = os.environ if environ is None else environ
    for name, value in environ.items():
        if not name.startswith("VAST_") or name in {"VAST_CONFIG"}:
            continue
        key = name[len("VAST_") :].lower().replace("__", ".")
        set_key(cfg, key, value)


def resolve(
    file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    cfg = Config()
    file = file or (environ if environ is not None else os.environ).get("VAST_CONFIG")
    if file:
        load_file(cfg, file)
    apply_environment(cfg, environ)
    for key, value in (overrides or {}).items():
        set_key(cfg, key, value)
    return cfg.validate()


def from_dict(data: dict[str, Any]) -> Config:
    cfg = Config()
    apply_mapping(cfg, data)
    return cfg.validate()
