"""The `vast` command: train locally, run one role, or use the environment tools.

Every config setting is a flag `--section.field VALUE`, generated from the config dataclasses with its
type, default and one-line help (`vast train --help` lists them by section); the settings typed daily
also have a short alias (`--env`, `--algo`, `--updates`, ...). Precedence: defaults < `--config FILE`
< environment `VAST_SECTION__FIELD` < flags. Bad input ends with one line and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from vast.common.cpu_threads import default_spin_wait

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and the exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def config_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with `--config` and one flag per config setting, grouped by section."""
    from vast.common.config import Config

    p = _Parser(
        prog=prog,
        usage=f"{prog} [--config FILE] [--section.field VALUE ...]",
        description=description,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Environment variables VAST_SECTION__FIELD (e.g. VAST_LEARNER__MODE=async) set the same keys.",
    )
    p.add_argument("--config", metavar="FILE", help="YAML or JSON config file (or VAST_CONFIG)")
    defaults = Config()
    top = p.add_argument_group("general")
    for f in dataclasses.fields(Config):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):  # a section: one group of flags
            group = p.add_argument_group(f.name)
            for sub in dataclasses.fields(value):
                _add_setting(group, f"{f.name}.{sub.name}", sub, getattr(value, sub.name))
        else:
            _add_setting(top, f.name, f, value)
    return p


def _add_setting(group, key: str, f: dataclasses.Field, default) -> None:
    flags = [f"--{key}"]
    from vast.common.config import field_choices, field_help

    alias = f.metadata.get("alias")
    if alias and f"--{alias}" != flags[0]:
        flags.insert(0, f"--{alias}")
    choices = [c for c in (field_choices(f) or ()) if c]
    text = field_help(f)
    shown = f"{default!r}" if isinstance(default, str) else str(default)
    kwargs = {"dest": key, "default": argparse.SUPPRESS, "help": f"{text} (default: {shown})"}
    if isinstance(default, bool):
        kwargs.update(nargs="?", const="true", metavar="BOOL")
    else:
        kwargs["metavar"] = "{" + ",".join(choices) + "}" if choices else type(default).__name__.upper()
    group.add_argument(*flags, **kwargs)


def parse_config(p: argparse.ArgumentParser, argv: list[str], resume_flag: bool = False):
    """(parsed namespace, resolved Config); config errors raise ConfigError.

    With `--resume RUN_DIR` (vast train), the run's saved config is the base, under the environment and
    flags, and the run continues in RUN_DIR from its newest checkpoint."""
    from vast.common.config import ConfigError, resolve

    args = p.parse_args(argv)
    overrides = {
        k: v for k, v in vars(args).items() if "." in k or k in ("redis_url", "redis_shards", "actors")
    }
    resume = getattr(args, "resume", None) if resume_flag else None
    if not resume:
        return args, resolve(args.config, overrides)
    if args.config:
        raise ConfigError("--resume RUN_DIR uses the run's saved config: drop --config")
    from pathlib import Path

    from vast.launch.local import resume_config_file

    run_dir = Path(resume).resolve()
    overrides.update(
        {"run.dir": str(run_dir.parent), "run.name": run_dir.name, "learner.resume": str(run_dir)}
    )
    return args, resolve(resume_config_file(run_dir), overrides)


def cmd_train(argv: list[str]) -> int:
    p = config_parser(
        "vast train",
        "Train: by default the whole system as local processes (embedded Redis, replay, learner, actors);\n"
        "with --serial everything in this one process.",
    )
    p.add_argument("--no-progress", action="store_true", help="no live progress bar")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its newest checkpoint, with its saved config (flags and "
        "environment still override it, e.g. --updates to train longer); its Redis buffer is reused",
    )
    args, cfg = parse_config(p, argv, resume_flag=True)
    if not cfg.run.updates and not cfg.run.minutes:
        cfg.run.updates = 200 if cfg.env.name.startswith("gaussian-squeeze") else 100
    from vast.common.rundir import default_run_name

    if not cfg.run.name:
        cfg.run.name = default_run_name(cfg)
    if cfg.run.serial:
        from vast.launch.serial import train_serial

        return train_serial(cfg, progress=not args.no_progress)
    from vast.launch.local import train

    return train(cfg, progress=not args.no_progress)


def _role_command(role: str) -> Callable[[list[str]], int]:
    def command(argv: list[str]) -> int:
        p = config_parser(
            f"vast {role}", f"Run the {role} role (connects to Redis and its peers by host:port)."
        )
        if role == "learner":
            p.add_argument(
                "--resume",
                action="store_true",
                help="continue from the newest checkpoint of the run directory (run.dir/run.name) and "
                "reclaim the episodes a crashed learner had read but not acknowledged",
            )
        args, cfg = parse_config(p, argv)
        if getattr(args, "resume", False):
            from vast.common.rundir import run_dir_of

            cfg.learner.resume = str(run_dir_of(cfg))
        from vast.launch.roles import run_role

        return run_role(role, cfg)

    return command


def _delegate(module: str) -> Callable[[list[str]], int]:
    def command(argv: list[str]) -> int:
        import importlib

        return int(importlib.import_module(module).main(argv) or 0)

    return command


def cmd_keys(argv: list[str]) -> int:
    p = _Parser(
        prog="vast keys",
        description="CURVE keys for authenticated, encrypted ZeroMQ channels (see docs/reliability.md).",
    )
    sub = p.add_subparsers(dest="action", required=True)
    gen = sub.add_parser(
        "generate",
        help="write a keypair: NAME.key (public) and NAME.key_secret (secret, mode 0600)",
        description="Write NAME.key (public: give it to peers) and NAME.key_secret (keep it private).",
    )
    gen.add_argument("folder", help="where to write the two files")
    gen.add_argument("--name", default="vast", help="file name stem (default: vast)")
    args = p.parse_args(argv)
    from vast.common.transport import generate_keys

    public, secret = generate_keys(args.folder, args.name)
    print(f"public key: {public}\nsecret key: {secret}")
    return 0


COMMANDS: dict[str, tuple[str, Callable[[list[str]], int]]] = {
    "train": ("train (local processes, or --serial in one process)", cmd_train),
    "actor": ("run one actor process", _role_command("actor")),
    "replay": ("run the replay (ingest) service", _role_command("replay")),
    "learner": ("run the learner", _role_command("learner")),
    "experiment": (
        "a grid of settings x seeds, or a paper comparison (--preset)",
        _delegate("vast.experiment.cli"),
    ),
    "plot": ("the paper's figures and a results table from run directories", _delegate("vast.plots.cli")),
    "evaluate": ("evaluate, render or picture the sub-teams of a trained run", _delegate("vast.evaluate")),
    "health": ("exit 0 if the role on this host serves metrics and makes progress", _delegate("vast.health")),
    "bench": (
        "measure env stepping, codec, transport, learner and end-to-end training; one table",
        _delegate("vast.bench.cli"),
    ),
    "keys": ("generate CURVE keypairs (vast keys generate DIR)", cmd_keys),
    "env-stats": ("random-policy statistics of an environment", _delegate("vast.envs.stats")),
    "render": ("render an episode of Warehouse or Battle to PNG and GIF", _delegate("vast.envs.render")),
}


def main(argv: list[str] | None = None) -> int:
    """The `vast` command. Output piped into a reader that closes early (`vast --help | head`) ends
    quietly, as other command-line tools do, instead of with a BrokenPipeError traceback."""
    try:
        code = _dispatch(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 1


def _dispatch(argv: list[str]) -> int:
    # Before torch loads (here and in every child process): OpenMP threads spin briefly between parallel
    # regions, awake through an update, asleep soon after it, off the cores the actors work on.
    default_spin_wait()
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: vast COMMAND [options]   (vast COMMAND --help for its options)\n\ncommands:")
        for name, (text, _) in COMMANDS.items():
            print(f"  {name:<10} {text}")
        return 0 if argv else USAGE_ERROR
    if argv[0] == "--version":
        from vast import __version__

        print(f"vast {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"vast: unknown command {command!r}; try `vast --help`", file=sys.stderr)
        return USAGE_ERROR
    from vast.common.config import ConfigError

    try:
        return COMMANDS[command][1](rest)
    except ConfigError as exc:
        print(f"vast {command}: configuration error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
