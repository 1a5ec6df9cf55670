"""The `vast` command: train locally, run one role, or use the environment tools.

Config flags: `--config FILE`, friendly aliases (`--env`, `--algo`, `--updates`, ...), and any config key
as `--section.field VALUE`. Environment variables `VAST_SECTION__FIELD` apply below flags. Unknown keys
are errors.
"""

from __future__ import annotations

import argparse
import sys

from common.config import Config, ConfigError, resolve

# alias flag -> config key
ALIASES = {
    "env": "env.name",
    "algo": "algo.algo",
    "mixer": "algo.mixer",
    "assign": "algo.assign",
    "eta": "algo.eta",
    "mode": "learner.mode",
    "updates": "run.updates",
    "minutes": "run.minutes",
    "seed": "run.seed",
    "run_name": "run.name",
    "run_dir": "run.dir",
    "actors": "actors",
    "redis_url": "redis_url",
    "device": "learner.device",
    "actor_id": "actor.id",
    "episodes_per_update": "learner.episodes_per_update",
}


def _config_parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=description,
        allow_abbrev=False,
        epilog="Any config key can be set as --section.field VALUE (e.g. --learner.eval_every 5).",
    )
    p.add_argument("--config", help="YAML or JSON config file")
    p.add_argument("--env", help="environment, e.g. gaussian-squeeze-200, warehouse-16, battle-80")
    p.add_argument("--algo", help="vast | qtran | qmix | vdn | il")
    p.add_argument("--mixer", help="operator Psi for vast: il | vdn | qmix | qtran")
    p.add_argument("--assign", help="sub-team assignment for vast: random | fixed | spatial | metagrad")
    p.add_argument("--eta", help="sub-team ratio: K = ceil(eta * N)")
    p.add_argument("--mode", help="sync (reproducible, paper) | async (throughput)")
    p.add_argument("--updates", help="stop after this many learner updates")
    p.add_argument("--minutes", help="stop after this many minutes")
    p.add_argument("--seed")
    p.add_argument("--run-name", dest="run_name", help="run id (Redis key prefix, run directory name)")
    p.add_argument("--run-dir", dest="run_dir", help="parent directory of run directories")
    p.add_argument("--actors", help="number of actor processes (vast train) / in the deployment (sync slots)")
    p.add_argument("--redis-url", dest="redis_url", help="use this Redis instead of an embedded one")
    p.add_argument("--device", help="learner device: auto | cpu | cuda")
    p.add_argument("--actor-id", dest="actor_id")
    p.add_argument("--episodes-per-update", dest="episodes_per_update")
    return p


def _parse_config(p: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, Config]:
    args, rest = p.parse_known_args(argv)
    overrides: dict[str, str] = {}
    i = 0
    while i < len(rest):
        token = rest[i]
        if not token.startswith("--") or token == "--":
            p.error(f"unexpected argument {token!r}")
        key, _, value = token[2:].partition("=")
        if not value:
            if i + 1 >= len(rest):
                p.error(f"{token} needs a value")
            value = rest[i + 1]
            i += 1
        if "." not in key and key.replace("-", "_") not in {"redis_url", "actors"}:
            p.error(f"unknown option --{key}")
        overrides[key] = value
        i += 1
    for alias, key in ALIASES.items():
        value = getattr(args, alias, None)
        if value is not None:
            overrides[key] = value
    return args, resolve(args.config, overrides)


def cmd_train(argv: list[str]) -> int:
    p = _config_parser("vast train", "Train locally: embedded Redis, replay, learner and actor processes.")
    p.add_argument("--no-progress", action="store_true", help="no live progress bar")
    args, cfg = _parse_config(p, argv)
    if not cfg.run.updates and not cfg.run.minutes:
        cfg.run.updates = 200 if cfg.env.name.startswith("gaussian-squeeze") else 100
    from common.local import train

    return train(cfg, progress=not args.no_progress)


def cmd_role(role: str, argv: list[str]) -> int:
    p = _config_parser(
        f"vast {role}", f"Run the {role} role (connects by host:port; see --help of vast train)."
    )
    _, cfg = _parse_config(p, argv)
    from common.roles import run_role

    return run_role(role, cfg)


def _delegate(module: str, argv: list[str]) -> int:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        print(f"vast: {module} is not available: {exc}", file=sys.stderr)
        return 2
    return int(mod.main(argv) or 0)


COMMANDS = {
    "train": "train locally (embedded Redis + replay + learner + actors as processes)",
    "actor": "run one actor process",
    "replay": "run the replay (ingest) service",
    "learner": "run the learner",
    "env-stats": "random-policy statistics of an environment",
    "render": "render an episode of Warehouse or Battle to PNG and GIF",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: vast COMMAND [options]\n\ncommands:")
        for name, text in COMMANDS.items():
            print(f"  {name:<10} {text}")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "train":
            return cmd_train(rest)
        if command in {"actor", "replay", "learner"}:
            return cmd_role(command, rest)
        if command == "env-stats":
            return _delegate("envs.stats", rest)
        if command == "render":
            return _delegate("envs.render", rest)
    except ConfigError as exc:
        print(f"vast {command}: configuration error: {exc}", file=sys.stderr)
        return 2
    print(f"vast: unknown command {command!r}; try `vast --help`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
