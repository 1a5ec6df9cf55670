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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from vast.common.algorithms import ASSIGNMENTS, METHODS, OPERATORS

if typing.TYPE_CHECKING:
    from vast.envs.base import EnvSpec

MODES = ("sync", "async")
RETURN_NORMS = ("none", "batch")
AMP_MODES = ("off", "bf16")
WANDB_MODES = ("offline", "online")


class ConfigError(ValueError):
    """A configuration key or value is not acceptable."""


def opt(default: Any, help: str | Callable[[], str], *, alias: str = "", choices=None) -> Any:
    """A config field with its one-line help (shown by `--help`), an optional short flag and choices.

    `help` and `choices` may be callables, evaluated when used: the registries can grow after import.
    """
    return field(default=default, metadata={"help": help, "alias": alias, "choices": choices})


def field_help(f: dataclasses.Field) -> str:
    text = f.metadata.get("help", "")
    return text() if callable(text) else text


def field_choices(f: dataclasses.Field) -> list | None:
    choices = f.metadata.get("choices")
    return list(choices()) if callable(choices) else (None if choices is None else list(choices))


@dataclass
class RunConfig:
    name: str = opt(
        "",
        "run id: run directory name and Redis key prefix vast:{name}:... (empty: generated)",
        alias="run-name",
    )
    seed: int = opt(0, "seed of every random stream (networks, actors, evaluation)", alias="seed")
    dir: str = opt("runs", "parent folder of run directories", alias="run-dir")
    updates: int = opt(0, "stop after this many learner updates (0: no limit)", alias="updates")
    minutes: float = opt(0.0, "stop after this many minutes of wall time (0: no limit)", alias="minutes")
    serial: bool = opt(
        False, "vast train: one process, no Redis or ZeroMQ (episodes played in-process)", alias="serial"
    )
    label: str = opt("", "name of this run's setting in tables and plots (empty: derived from algo)")
    metrics_host: str = opt(
        "127.0.0.1", "address the metrics endpoints bind to (0.0.0.0: every interface, e.g. in containers)"
    )
    heartbeat_ttl_s: float = opt(
        10.0, "a role's heartbeat key in Redis expires after this long (refreshed 5 times as often)"
    )
    max_restarts: int = opt(
        5, "vast train: give up on a role that failed more often than this within restart_window_s"
    )
    restart_window_s: float = opt(600.0, "vast train: the window in which a role's failures are counted")
    redis_fsync: str = opt(
        "always",
        "vast train's embedded Redis: AOF fsync policy (always: an acknowledged episode survives a crash "
        "of Redis or of the machine; everysec: faster, the last ~2 s may be lost on a machine crash)",
        choices=("always", "everysec"),
    )


@dataclass
class EnvConfig:
    name: str = opt(
        "gaussian-squeeze-200",
        "environment: warehouse-N, battle-N or gaussian-squeeze-N (paper: warehouse-4/8/16, battle-20/40/80, "
        "gaussian-squeeze-200/400/800)",
        alias="env",
    )
    mu: float = opt(400.0, "GaussianSqueeze: centre of the performance curve")
    sigma: float = opt(200.0, "GaussianSqueeze: width of the performance curve")
    battle_regen: float = opt(0.1, "Battle: HP regenerated per turn (code 0.1, paper 0.01)")
    battle_hp: str = opt(
        "float",
        "Battle: HP model, the reference's float HP (a hit can leave a ~1e-16 residue that survives) or "
        "exact integer tenths",
        choices=("float", "exact"),
    )
    battle_kill_bonus: float = opt(0.0, "Battle: reward per kill on top of the hit's +1 (code 0, paper 1)")
    warehouse_start: str = opt(
        "dropoff",
        "Warehouse: start cells, drop-off cells (code) or work stations (paper)",
        choices=("dropoff", "stations"),
    )

    def options(self, family: str) -> dict[str, Any]:
        if family == "gaussian-squeeze":
            return {"mu": self.mu, "sigma": self.sigma}
        if family == "battle":
            return {"regen": self.battle_regen, "hp": self.battle_hp, "kill_bonus": self.battle_kill_bonus}
        if family == "warehouse":
            return {"start": self.warehouse_start}
        return {}

    def spec(self) -> EnvSpec:
        """The environment spec this config names, with its options: the one way every role gets it."""
        from vast.envs.registry import make_spec, parse_name

        family, _ = parse_name(self.name)
        return make_spec(self.name, **self.options(family))


@dataclass
class AlgoConfig:
    algo: str = opt("vast", lambda: "method: " + METHODS.describe(), alias="algo", choices=METHODS.names)
    mixer: str = opt(
        "",
        lambda: "operator Psi of vast (empty: qtran): " + OPERATORS.describe(),
        alias="mixer",
        choices=lambda: ["", *OPERATORS.names()],
    )
    assign: str = opt(
        "",
        lambda: "sub-team assignment of vast (empty: metagrad): " + ASSIGNMENTS.describe(),
        alias="assign",
        choices=lambda: ["", *ASSIGNMENTS.names()],
    )
    eta: float = opt(0.25, "sub-team ratio: K = ceil(eta * N)", alias="eta")
    spatial_centroids: str = opt("k", "spatial: K clusters (code) or K/2 (paper)", choices=("k", "half"))
    qtran_squared_opt: bool = opt(False, "QTRAN: the paper's squared L_opt instead of the code's linear one")
    actor_loss: str = opt(
        "reinforce",
        "actor loss: REINFORCE with baseline (reference) or PPO-clip",
        choices=("reinforce", "ppo"),
    )
    ppo_clip: float = opt(0.2, "PPO clip range")
    lr: float = opt(1e-3, "Adam learning rate of every network")
    clip_critic: float = opt(1.0, "L2 norm the critic's gradient (Q-net + operator) is clipped to (0: off)")
    clip_actor: float = opt(
        0.0, "L2 norm the actor's gradient is clipped to (0: off, as the reference's clip has no effect)"
    )
    clip_meta: float = opt(
        0.0, "L2 norm MetaGrad's gradient is clipped to (0: off, as the reference's clip has no effect)"
    )
    actor_hidden: int = opt(64, "hidden units of the actor and the local Q-network")
    critic_hidden: int = opt(128, "hidden units of the QMIX and QTRAN networks")
    importance_clip: float = opt(
        10.0,
        "async: truncation c of the per-agent ratio pi/mu on the policy-gradient terms (docs/algorithms.md)",
    )
    return_norm: str = opt(
        "none",
        "returns: none (reference) or batch (float64, standardised over each batch; the critic's target "
        "and the actor's return; makes GaussianSqueeze-400/800 learn)",
        choices=RETURN_NORMS,
    )
    sparse_inputs: str = opt(
        "auto",
        "first layers of the update over mostly-zero inputs (Battle's observations): auto (the default: "
        "on the CPU, as sparse rows emitted by the domain's decoder when at most a tenth of the inputs "
        "is nonzero; the same sums up to float32 rounding, a shorter update) or off (dense)",
        choices=("auto", "off"),
    )
    amp: str = opt(
        "off",
        "mixed precision of the per-agent networks' forward passes in the update (actor, local Q-net, "
        "VASTNet trunk): off (float32, the default) or bf16 (losses, softmaxes, sampling and mixing "
        "networks stay float32); pays off on GPUs",
        choices=AMP_MODES,
    )

    def n_subteams(self, n_agents: int) -> int:
        if self.algo != "vast":
            return n_agents
        return max(1, math.ceil(self.eta * n_agents - 1e-9))

    def normalized(self) -> AlgoConfig:
        """A copy with the method's implied operator and assignment filled in and names made canonical:
        the one place these defaults live."""
        try:
            algo = METHODS.canonical(self.algo)
            own = METHODS[algo].props.get("operator", "")
            if algo == "vast":
                mixer = OPERATORS.canonical(self.mixer or "qtran")
                assign = ASSIGNMENTS.canonical(self.assign or "metagrad")
            elif own is None:  # IL: an actor-critic without operator or sub-teams
                if self.mixer not in ("", "il") or self.assign not in ("", "identity"):
                    raise ConfigError(
                        f"--algo {algo} has no operator and no sub-teams: drop --mixer/--assign"
                    )
                mixer, assign = "", ""
            else:
                mixer, assign = own, "identity"
                if self.mixer not in ("", own):
                    # Flat methods name their operator themselves: --algo qmix means mixer qmix.
                    raise ConfigError(
                        f"--algo {algo} is a flat baseline with its own operator; "
                        f"drop --mixer {self.mixer} or use --algo vast --mixer {self.mixer}"
                    )
                if self.assign not in ("", "identity"):
                    raise ConfigError(
                        f"--algo {algo} is flat (K = N, identity assignment); --assign {self.assign} needs --algo vast"
                    )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return dataclasses.replace(self, algo=algo, mixer=mixer, assign=assign)


@dataclass
class ActorConfig:
    id: int = opt(
        0,
        "this actor's id (sync work slots: slot j is played by actor j mod actors); -1: claim the next "
        "free id of the run from Redis (replicas started from one config: compose, Kubernetes)",
        alias="actor-id",
    )
    batch_envs: int = opt(0, "environment copies per actor (0: its share of a sync batch)")
    replay_addr: str = opt(
        "tcp://127.0.0.1:5555",
        "ZeroMQ address episodes are sent to; several replay replicas: comma-separated addresses, which "
        "the actor's socket serves in turn (resends may reach another replica: Redis de-duplicates)",
    )
    weights_addr: str = opt("tcp://127.0.0.1:5556", "ZeroMQ address versioned weights are published on")
    ack_timeout_s: float = opt(5.0, "resend an unacknowledged episode after this long")
    max_in_flight: int = opt(64, "episodes sent but not yet acknowledged, at most")
    weight_wait_s: float = opt(2.0, "sync mode: poll Redis for weights after this long without a broadcast")
    learner_silent_s: float = opt(
        120.0, "warn loudly (log + metric) when no new weights arrived for this long; keep retrying"
    )
    metrics_port: int = opt(0, "Prometheus port (0: a free port)")


@dataclass
class ReplayConfig:
    bind: str = opt("tcp://127.0.0.1:5555", "ZeroMQ address to receive episodes on")
    max_episode_bytes: int = opt(64 * 1024 * 1024, "larger episode messages are rejected")
    max_backlog: int = opt(
        2000, "unconsumed episodes in Redis beyond which replay stops acking (back-pressure)"
    )
    dedupe_ttl_s: int = opt(24 * 3600, "how long an episode id is remembered for de-duplication")
    version_wait_s: float = opt(
        2.0,
        "how long an episode claiming the version just after the newest one in Redis waits for the "
        "learner's copy to be stored (it broadcasts while Redis writes) before it is rejected",
    )
    metrics_port: int = opt(0, "Prometheus port (0: a free port)")
    id: int = opt(0, "this replay replica's id (its metrics and heartbeat identity)")
    replicas: int = opt(1, "vast train: replay processes to start; the actors spread over all of them")


@dataclass
class LearnerConfig:
    mode: str = opt(
        "sync", "sync (paper-faithful, reproducible) or async (throughput)", alias="mode", choices=MODES
    )
    episodes_per_update: int = opt(10, "E: episodes in one batch, one update", alias="episodes-per-update")
    max_policy_lag: int = opt(4, "async: episodes older than this many versions are dropped")
    simulated_lag: int = opt(
        0,
        "serial async only: play with the weights of this many versions ago (deterministic stand-in for lag)",
    )
    queue_updates: int = opt(
        1, "async: actors produce only while fewer than this many batches wait beyond the one being trained"
    )
    eval_every: int = opt(1, "evaluate every this many updates (0: never)")
    eval_episodes: int = opt(10, "episodes per evaluation")
    eval_greedy: bool = opt(
        True, "also evaluate greedy (argmax) actions at every evaluation, logged as eval_greedy_metric"
    )
    checkpoint_every: int = opt(100, "checkpoint every this many updates (the final one is always written)")
    keep_every: int = opt(
        0, "also keep a copy of the checkpoint every this many updates in checkpoints/ (0: none)"
    )
    keep_checkpoints: int = opt(3, "checkpoints kept in the run directory (older ones are deleted)")
    weights_bind: str = opt("tcp://127.0.0.1:5556", "ZeroMQ address to publish weights on")
    device: str = opt("auto", "training device: auto (CUDA when present), cpu or cuda", alias="device")
    torch_threads: int = opt(
        1,
        "torch threads of the learner (0: one per core). 1 is reproducible bit for bit on any machine; "
        "more use the cores that sync-mode actors leave idle during an update, but float results then "
        "depend on the thread count (reduction order)",
    )
    read_timeout_s: float = opt(1.0, "one blocking Redis read at most this long, then re-check stop flags")
    metrics_port: int = opt(0, "Prometheus port (0: a free port)")
    resume: str = opt(
        "",
        "resume from this checkpoint file, or from the newest checkpoint of this run directory; 'auto': from this run's own directory if it holds a checkpoint, else start fresh (containers)",
    )
    slot_timeout_s: float = opt(
        60.0,
        "sync: re-issue work slots still missing after this long even if their actor looks alive "
        "(slots of an actor without a heartbeat are re-issued at once)",
    )
    stall_warn_s: float = opt(30.0, "warn (log + metric) when no usable episode arrived for this long")


@dataclass
class AuthConfig:
    """ZeroMQ CURVE: paths to certificate files written by `vast keys generate` (never the keys themselves,
    so the saved config holds no secret). Empty: no authentication or encryption."""

    server_key: str = opt("", "replay and learner: the server's secret certificate (NAME.key_secret)")
    authorized_keys: str = opt(
        "", "replay and learner: folder of the public certificates (*.key) of the actors allowed in"
    )
    server_public: str = opt("", "actors: the server's public certificate (NAME.key)")
    client_key: str = opt("", "actors: this actor's secret certificate (NAME.key_secret)")

    @property
    def enabled(self) -> bool:
        return bool(self.server_key or self.client_key)


@dataclass
class LogConfig:
    """Optional sinks for the learner's metrics rows besides metrics.jsonl (`pip install 'vast[logging]'`)."""

    tensorboard: bool = opt(False, "also write TensorBoard event files to RUN_DIR/tensorboard")
    wandb: bool = opt(False, "also log to Weights & Biases (files under RUN_DIR/wandb)")
    wandb_mode: str = opt(
        "offline", "W&B mode: offline (no network; `wandb sync` later) or online", choices=WANDB_MODES
    )
    wandb_project: str = opt("vast", "W&B project name")


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    actor: ActorConfig = field(default_factory=ActorConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    log: LogConfig = field(default_factory=LogConfig)
    redis_url: str = opt(
        "",
        "Redis to use: redis://[[user]:password@]host:port/db, or rediss://... for TLS (query options such "
        "as ?ssl_ca_certs=FILE pass through); empty: vast train starts an embedded one. The password is "
        "never written to the run directory or the logs",
        alias="redis-url",
    )
    auth: AuthConfig = field(default_factory=AuthConfig)
    actors: int = opt(
        0,
        "number of actors (vast train: local processes; sync: work-slot split); 0: auto, resolved when "
        "the config is validated (`auto_actors`): in sync mode one per core less the learner's "
        "evaluation thread, at most learner.episodes_per_update; in async mode and with --serial 2. "
        "The count sets a sync run's work-slot seeds: set it explicitly to replay a run's episodes on "
        "a machine with other cores, or when the roles of one sync run start on different machines",
        alias="actors",
    )
    redis_shards: str = opt(
        "",
        "further Redis servers (comma-separated URLs) holding shards of the episode stream: an episode "
        "goes to shard (its actor id mod 1+count), redis_url being shard 0 and holding everything else",
        alias="redis-shards",
    )

    def shard_urls(self) -> list[str]:
        """The Redis URLs of episode-stream shards 1, 2, ... (shard 0 is redis_url)."""
        return [u.strip() for u in self.redis_shards.split(",") if u.strip()]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def public_dict(self) -> dict[str, Any]:
        """`to_dict` with every secret redacted (the Redis password): what may be written anywhere."""
        data = self.to_dict()
        data["redis_url"] = redact_url(data["redis_url"])
        data["redis_shards"] = ",".join(redact_url(u) for u in self.shard_urls())
        return data

    def save(self, path: Path) -> None:
        """Write the config as JSON with every secret redacted, atomically."""
        data = self.public_dict()
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)

    def validate(self) -> Config:
        """Reject values and combinations that cannot run, with a message that says why."""
        self.algo = self.algo.normalized()
        for key, f, value in iter_fields(self):
            choices = field_choices(f)
            if choices is not None and value not in choices:
                shown = [c for c in choices if c]
                raise ConfigError(f"{key} must be one of {shown}, got {value!r}")
        if not 0.0 < self.algo.eta <= 1.0:
            raise ConfigError(f"algo.eta must be in (0, 1], got {self.algo.eta}")
        if self.algo.assign == "identity" and self.algo.algo == "vast" and self.algo.eta != 1.0:
            raise ConfigError("--assign identity puts every agent in its own sub-team: it needs --eta 1")
        if self.learner.episodes_per_update < 1:
            raise ConfigError("learner.episodes_per_update must be >= 1")
        if self.learner.queue_updates < 0:
            raise ConfigError("learner.queue_updates must be >= 0")
        if self.actors < 0:
            raise ConfigError("actors must be >= 1, or 0 for one per spare core (auto)")
        if self.actors == 0:
            self.actors = auto_actors(
                self.learner.mode,
                self.learner.episodes_per_update,
                self.learner.eval_every > 0,
                usable_cores(),
                self.run.serial,
            )
        if min(self.algo.clip_critic, self.algo.clip_actor, self.algo.clip_meta) < 0:
            raise ConfigError("algo.clip_critic, clip_actor and clip_meta must be >= 0 (0: off)")
        if self.actor.id < -1:
            raise ConfigError(f"actor.id must be >= 0, or -1 to claim one from Redis; got {self.actor.id}")
        if self.actor.id == -1 and self.learner.mode == "sync":
            raise ConfigError(
                "actor.id -1 (claimed ids) needs learner.mode async: sync work slots need fixed ids"
            )
        if self.run.updates < 0 or self.run.minutes < 0:
            raise ConfigError("run.updates and run.minutes must be >= 0")
        if self.learner.torch_threads < 0:
            raise ConfigError("learner.torch_threads must be >= 0 (0: one per core)")
        if min(self.learner.eval_every, self.learner.checkpoint_every, self.learner.keep_every) < 0:
            raise ConfigError("learner.eval_every, checkpoint_every and keep_every must be >= 0")
        if self.learner.keep_checkpoints < 1:
            raise ConfigError("learner.keep_checkpoints must be >= 1")
        if self.replay.version_wait_s < 0:
            raise ConfigError("replay.version_wait_s must be >= 0 (0: reject at once)")
        if self.run.heartbeat_ttl_s <= 0 or self.run.max_restarts < 0:
            raise ConfigError("run.heartbeat_ttl_s must be > 0 and run.max_restarts >= 0")
        for key, url in (("redis_url", self.redis_url), *(("redis_shards", u) for u in self.shard_urls())):
            if REDACTED in url:
                raise ConfigError(
                    f"{key} holds a redacted password (saved configs never keep it): pass "
                    f"--{key.replace('_', '-')} or VAST_{key.upper()} with the password"
                )
            if url and not url.startswith(("redis://", "rediss://", "unix://")):
                raise ConfigError(
                    f"{key} must start with redis://, rediss:// or unix://, got {redact_url(url)!r}"
                )
        if self.shard_urls() and not self.redis_url:
            raise ConfigError("redis_shards needs redis_url (shard 0, which also holds weights and ledger)")
        if self.replay.replicas < 1:
            raise ConfigError(f"replay.replicas must be >= 1, got {self.replay.replicas}")
        self._validate_auth()
        try:
            self.env.spec()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return self

    def _validate_auth(self) -> None:
        a = self.auth
        if bool(a.server_key) != bool(a.authorized_keys):
            raise ConfigError(
                "auth.server_key and auth.authorized_keys go together (the server's secret "
                "certificate and the folder of allowed actors' public certificates)"
            )
        if bool(a.client_key) != bool(a.server_public):
            raise ConfigError(
                "auth.client_key and auth.server_public go together (the actor's secret "
                "certificate and the server's public certificate)"
            )
        for key in ("server_key", "authorized_keys", "server_public", "client_key"):
            path = getattr(a, key)
            if path and not Path(path).exists():
                raise ConfigError(
                    f"auth.{key}: {path} does not exist (create keys with `vast keys generate`)"
                )


REDACTED = "***"


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***: what may be logged or saved."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{host}"))


def iter_fields(obj: Any, prefix: str = ""):
    """(key, dataclass field, value) of every leaf setting, sections expanded: `learner.mode`, ..."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from iter_fields(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f, value


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def learner_threads(cfg: Config) -> int:
    """`learner.torch_threads` resolved: 0 means one per core this process may run on."""
    if cfg.learner.torch_threads > 0:
        return cfg.learner.torch_threads
    return usable_cores()


def auto_actors(
    mode: str, episodes_per_update: int, evaluates: bool, cores: int, serial: bool = False
) -> int:
    """How many actor processes `actors 0` means.

    Sync mode: while the actors play a version, the learner's only work is the evaluation of that
    version on one thread of its own, so each other core gets one actor, and never more actors than
    an update has episodes. On 2 cores that is one actor playing all E copies in one batch: fewer
    per-step overheads than two actors of E/2 copies, and no third thread on two cores (Warehouse-16
    VAST-QTRAN: 6-12% more agent-steps per second, docs/performance.md). Async mode keeps 2, the
    count its measurements were made with. A serial run plays every group on one thread, so there
    the count only sets the work-slot seeds: it stays 2, whatever the machine, so that sweeps and
    the recorded tests replay the same episodes on any machine."""
    if mode != "sync" or serial:
        return 2
    return max(1, min(episodes_per_update, cores - (1 if evaluates else 0)))


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
