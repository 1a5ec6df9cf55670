"""Run directories as data: find them, read their config and metrics, group them for figures."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vast.common import rundir
from vast.plots.stats import WINDOW


@dataclass
class Run:
    path: Path
    env: str
    label: str
    seed: int
    config: dict[str, Any]
    rows: list[dict[str, Any]]
    summary: dict[str, Any] | None
    episode_limit: int
    metric_name: str

    @property
    def episodes_per_update(self) -> int:
        return int(self.config["learner"]["episodes_per_update"])

    def series(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(0-based update index, value) of every row that has `metric`."""
        picked = [(r["update"] - 1, r[metric]) for r in self.rows if r.get(metric) is not None]
        if not picked:
            return np.zeros(0), np.zeros(0)
        epochs, values = zip(*picked)
        return np.asarray(epochs, dtype=np.int64), np.asarray(values, dtype=np.float64)

    def final(self, metric: str) -> float:
        """The run's final score: the mean of its last WINDOW values (the smoothed curve's last point)."""
        _, values = self.series(metric)
        return float(values[-WINDOW:].mean()) if len(values) else math.nan

    @property
    def updates(self) -> int:
        return int(self.rows[-1]["update"]) if self.rows else 0

    @property
    def wall_s(self) -> float:
        if self.summary and self.summary.get("updates") == self.updates:
            return float(self.summary["wall_s"])
        return float(self.rows[-1]["wall_s"]) if self.rows else 0.0

    @property
    def env_steps(self) -> int:
        return int(self.rows[-1]["env_steps"]) if self.rows else 0


def label_of(config: dict[str, Any]) -> str:
    """The plot label of a run: `run.label` (vast experiment sets it), else the setting's readable name."""
    label = config.get("run", {}).get("label", "")
    if label:
        return label
    from vast.experiment.settings import Setting

    algo = config["algo"]
    if algo["algo"] == "vast":
        return Setting("vast", algo["mixer"], algo["assign"], float(algo["eta"])).label()
    return Setting(algo["algo"]).label()


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Every directory at or under `paths` with a config.json and a metrics.jsonl."""
    found: dict[Path, None] = {}
    for path in paths:
        path = Path(path)
        candidates = (
            [path] if (path / rundir.CONFIG).exists() else sorted(p.parent for p in path.rglob(rundir.CONFIG))
        )
        for c in candidates:
            if (c / rundir.METRICS).exists():
                found[c.resolve()] = None
    return list(found)


def load_run(path: Path) -> Run:
    from vast.envs.registry import make_spec

    config = json.loads((path / rundir.CONFIG).read_text())
    summary_path = path / rundir.SUMMARY
    env = config["env"]["name"]
    spec = make_spec(env)
    return Run(
        path=path,
        env=env,
        label=label_of(config),
        seed=int(config["run"]["seed"]),
        config=config,
        rows=rundir.read_rows(path / rundir.METRICS),
        summary=json.loads(summary_path.read_text()) if summary_path.exists() else None,
        episode_limit=spec.episode_limit,
        metric_name=spec.metric_name,
    )


@dataclass
class Collection:
    """Runs grouped by environment and label, in the order labels were asked for."""

    runs: list[Run]
    order: list[str] = field(default_factory=list)

    def envs(self) -> list[str]:
        return list(dict.fromkeys(r.env for r in self.runs))

    def labels(self, env: str) -> list[str]:
        present = list(dict.fromkeys(r.label for r in self.runs if r.env == env))
        ranked = [label for label in self.order if label in present]
        return ranked + [label for label in present if label not in ranked]

    def group(self, env: str, label: str) -> list[Run]:
        return sorted((r for r in self.runs if r.env == env and r.label == label), key=lambda r: r.seed)


def collect(paths: list[Path]) -> tuple[Collection, dict[str, Any]]:
    """The runs under `paths`; with one sweep directory, also its sweep.json (labels order, mode)."""
    from vast.experiment.sweep import SWEEP_FILE

    sweep: dict[str, Any] = {}
    if len(paths) == 1 and (Path(paths[0]) / SWEEP_FILE).exists():
        sweep = json.loads((Path(paths[0]) / SWEEP_FILE).read_text())
    runs = [load_run(p) for p in find_run_dirs(paths)]
    if sweep:
        wanted = {r["key"] for r in sweep.get("runs", [])}
        runs = [r for r in runs if r.path.name in wanted]
    return Collection(runs, list(sweep.get("labels", []))), sweep
