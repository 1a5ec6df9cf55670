"""What `vast train` shows while it runs and prints when it ends, whatever the topology."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from vast.common import rundir
from vast.common.config import Config


def describe(cfg: Config, topology: str) -> str:
    a = cfg.algo
    method = f"{a.algo} ({a.mixer}, {a.assign}, eta={a.eta})" if a.algo == "vast" else a.algo
    return f"[bold]vast train[/]: {method} on {cfg.env.name}, {cfg.learner.mode} mode, {topology}"


class TrainingProgress:
    """A live bar: updates, policy version, episodes/s and the latest evaluation metric."""

    def __init__(self, cfg: Config, console: Console, enabled: bool = True):
        total = cfg.run.updates or None
        columns = [
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} updates" if total else "{task.completed} updates"),
            TextColumn("v{task.fields[version]}"),
            TextColumn("{task.fields[eps]:.1f} ep/s"),
            TextColumn("eval {task.fields[metric]}"),
            TimeElapsedColumn(),
        ]
        self.bar = Progress(*columns, console=console, disable=not enabled, transient=False)
        self.task = self.bar.add_task("training", total=total, version=0, eps=0.0, metric="-")
        self.t0 = time.monotonic()
        self.last_metric = "-"

    def __enter__(self) -> TrainingProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def show(self, row: dict) -> None:
        if row.get("eval_metric") is not None:
            self.last_metric = f"{row['eval_metric']:.3f}"
        self.bar.update(
            self.task,
            completed=row["update"],
            version=row["version"],
            eps=row["episodes"] / max(1e-9, time.monotonic() - self.t0),
            metric=self.last_metric,
        )


def report(run_dir: Path, console: Console) -> None:
    """The closing summary of a run, from its metrics log."""
    rows = rundir.read_rows(run_dir / rundir.METRICS)
    if not rows:
        console.print("no updates were made")
        return
    last = rows[-1]
    wall = max(1e-9, last["wall_s"])
    evals = [r["eval_metric"] for r in rows if r.get("eval_metric") is not None]
    console.print(
        f"done: {last['update']} updates, {last['episodes']} episodes in {wall:.1f}s "
        f"({last['update'] / wall:.2f} updates/s, {last['episodes'] / wall:.1f} episodes/s)"
    )
    if evals:
        console.print(f"evaluation metric: first {evals[0]:.3f}, last {evals[-1]:.3f}, best {max(evals):.3f}")
    for name in (rundir.CONFIG, rundir.METRICS, rundir.CHECKPOINT, rundir.CURVE):
        path = run_dir / name
        console.print(f"  {path}" + ("" if path.exists() else "  (missing)"))
