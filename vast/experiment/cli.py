"""`vast experiment`: run a grid of settings × seeds, or one of the paper's comparisons by name.

vast experiment --algos vast-qtran@0.25,vast-qtran@0.5,qmix,qtran,il --env warehouse-16 --seeds 5 --updates 3000
vast experiment --preset paper-sota --budget 0.1 --seeds 5 --out experiments/sota
vast experiment --preset paper-sota --env gaussian-squeeze-800 --set algo.return_norm=batch
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vast.common.config import ConfigError, usable_cores

EPILOG = """settings: METHOD[-OPERATOR][-ASSIGNMENT][@ETA][:KEY=VALUE]...  e.g. vast-qtran@0.25,
vast-qmix-spatial@1/2, vast-il@0.5 (independent operator), qmix, il, vast-qtran@0.25:algo.lr=0.0005.
presets (plot mode, default environments):
  paper-operators   F: VAST-{IL,VDN,QMIX,QTRAN} eta=1/2 on warehouse-4, battle-20, gaussian-squeeze-200 (Fig. 3)
  paper-sota        S: VAST-QTRAN eta=1/4,1/2, QMIX, QTRAN, IL on those and warehouse-16, battle-80,
                    gaussian-squeeze-800 (Fig. 4)
  paper-assignment  A: VAST-QTRAN eta=1/4 with Random, Fixed, Spatial, MetaGrad, plus the best baseline,
                    on warehouse-16, battle-80, gaussian-squeeze-800 (Fig. 5)
  paper-diversity   D: division diversity of VAST-QTRAN eta=1/4,1/2 on the six environments of paper-sota
budgets: the paper's epochs (warehouse 3000, battle 2000, gaussian-squeeze 10000 updates) x --budget.
A finished run is skipped; a stopped or killed one continues from its last checkpoint."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vast experiment",
        description="Run a grid of settings x environments x seeds with in-process trainers, several at once.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--preset", help="a paper comparison: paper-operators|paper-sota|paper-assignment|paper-diversity"
    )
    what.add_argument("--algos", help="comma-separated settings (see below)")
    p.add_argument(
        "--env", help="comma-separated environments (default: the preset's; required with --algos)"
    )
    p.add_argument(
        "--seeds", type=int, default=5, help="runs per setting, seeds FIRST..FIRST+N-1 (default 5)"
    )
    p.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument(
        "--updates",
        type=int,
        default=0,
        help="updates per run (default: the paper's for the domain x --budget)",
    )
    p.add_argument(
        "--budget", type=float, default=1.0, help="scale the paper's budgets, e.g. 0.1 or 0.01 (default 1)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config key for every run (repeatable)",
    )
    p.add_argument("--out", help="sweep directory (default: experiments/PRESET or experiments/sweep)")
    p.add_argument("--jobs", type=int, default=0, help="runs at once (default: the number of cores)")
    p.add_argument(
        "--dry-run", action="store_true", help="print the runs and what would happen to each, then stop"
    )
    p.add_argument("--no-progress", action="store_true", help="no live display")
    return p


def make_plan(args: argparse.Namespace):
    from vast.experiment import presets
    from vast.experiment.settings import parse_override, parse_setting, parse_settings
    from vast.experiment.sweep import Plan, PlannedRun, estimate_cost, run_config

    if args.seeds < 1:
        raise ConfigError("--seeds must be >= 1")
    if args.budget <= 0 or args.updates < 0:
        raise ConfigError("--budget must be > 0 and --updates >= 0")
    extra = dict(parse_override(item) for item in args.set)
    envs = [e.strip() for e in (args.env or "").split(",") if e.strip()]
    if args.preset:
        preset = presets.get_preset(args.preset)
        envs = envs or list(preset.envs)
        grid = {env: [(parse_setting(s), label) for s, label in preset.settings(env)] for env in envs}
        mode, metric, focus, name = preset.mode, preset.metric, preset.focus, preset.name
    else:
        if not envs:
            raise ConfigError("--algos needs --env (one or more environments)")
        settings = parse_settings(args.algos)
        grid = {env: [(s, s.label()) for s in settings] for env in envs}
        mode, metric, focus, name = "", "eval_metric", settings[0].canonical(), ""
    if extra:  # --set makes other settings: the focus is the one carrying the same overrides
        focus = parse_setting(focus).with_overrides(extra).canonical()
    out = Path(args.out or Path("experiments") / (name or "sweep"))
    plan = Plan(out, mode, name, metric, focus)
    for env in envs:
        updates = args.updates or presets.paper_updates(env, args.budget)
        for setting, label in grid[env]:
            if extra:
                setting = setting.with_overrides(extra)
                label += " [" + ", ".join(f"{k.split('.')[-1]}={v}" for k, v in sorted(extra.items())) + "]"
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                cfg = run_config(env, setting, label, seed, updates, out)
                plan.runs.append(
                    PlannedRun(
                        key=cfg.run.name,
                        env=env,
                        setting=setting.canonical(),
                        label=label,
                        seed=seed,
                        updates=updates,
                        config=cfg.to_dict(),
                        cost=estimate_cost(cfg),
                    )
                )
    return plan


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    args = parser().parse_args(argv)
    plan = make_plan(args)
    console = Console(stderr=True)
    jobs = args.jobs or usable_cores()
    from vast.experiment.sweep import run_state

    states = {r.key: run_state(r) for r in plan.runs}
    counts = {s: sum(1 for v in states.values() if v == s) for s in ("done", "resume", "fresh")}
    console.print(
        f"[bold]vast experiment[/]: {len(plan.runs)} runs in {plan.sweep_dir} "
        f"({counts['done']} done, {counts['resume']} to resume from a checkpoint, {counts['fresh']} new), "
        f"{min(jobs, max(1, len(plan.runs)))} at a time"
    )
    if args.dry_run:
        for run in plan.runs:
            print(f"{states[run.key]:<7} {run.updates:>6} updates  {run.key}")
        return 0
    from vast.learner.loggers import check_available

    check_available(plan_config(plan))
    from vast.experiment.sweep import run_sweep

    try:
        result = run_sweep(plan, jobs, console, progress=not args.no_progress)
    except KeyboardInterrupt:
        console.print("stopped; run the same command again to continue")
        return 130
    console.print(
        f"finished: {result['done']} trained, {result['skipped']} already done, "
        f"{result['stopped']} stopped, {len(result['failed'])} failed"
    )
    for key, error in result["failed"]:
        console.print(f"[red]failed[/] {key}: {error} (see {plan.sweep_dir}/runs/{key}/error.txt)")
    console.print(f"plots and tables: vast plot {plan.sweep_dir}")
    return 1 if result["failed"] else 0


def plan_config(plan):
    from vast.common.config import from_dict

    return from_dict(plan.runs[0].config)


if __name__ == "__main__":
    sys.exit(main())
