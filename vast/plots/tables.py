"""The results table: per environment and setting, the final metric (mean ± 95% bootstrap CI and
IQM with its CI), the greedy evaluation's final metric, wall time and environment steps per second;
the probability that the focus setting beats each other one; and the same aggregated over
environments (IQM of min-max normalised scores, mean probability of improvement)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vast.plots import stats
from vast.plots.runs import Collection, Run


@dataclass
class Row:
    env: str
    label: str
    runs: int
    updates: int
    final: tuple[float, float, float]  # mean, low, high
    iqm: tuple[float, float, float]
    greedy: tuple[float, float, float] | None
    wall_s: float  # mean per run
    s_per_update: float
    steps_per_s: float


def finals(runs: list[Run], metric: str) -> np.ndarray:
    values = np.array([r.final(metric) for r in runs])
    return values[~np.isnan(values)]


def summarise(collection: Collection, metric: str, resamples: int = stats.RESAMPLES) -> list[Row]:
    rows = []
    for env in collection.envs():
        for label in collection.labels(env):
            group = collection.group(env, label)
            scores = finals(group, metric)
            if len(scores) == 0:
                continue
            greedy = finals(group, "eval_greedy_metric") if metric == "eval_metric" else np.zeros(0)
            wall = np.array([r.wall_s for r in group])
            updates = np.array([r.updates for r in group])
            steps = np.array([r.env_steps for r in group])
            rows.append(
                Row(
                    env=env,
                    label=label,
                    runs=len(scores),
                    updates=int(updates.min()),
                    final=stats.mean_ci(scores, resamples),
                    iqm=stats.iqm_ci(scores.reshape(-1, 1), resamples),
                    greedy=stats.mean_ci(greedy, resamples) if len(greedy) else None,
                    wall_s=float(wall.mean()),
                    s_per_update=float((wall / np.maximum(updates, 1)).mean()),
                    steps_per_s=float((steps / np.maximum(wall, 1e-9)).mean()),
                )
            )
    return rows


@dataclass
class Improvement:
    env: str  # an environment, or "all" for the aggregate over environments
    x: str
    y: str
    p: tuple[float, float, float]


def improvements(
    collection: Collection, metric: str, resamples: int = stats.RESAMPLES
) -> tuple[list[Improvement], list[tuple[str, tuple[float, float, float]]]]:
    """P(X > Y) for every ordered pair of settings per environment and over all environments, and the
    IQM over environments of min-max normalised final scores per setting (settings present in all)."""
    out: list[Improvement] = []
    scores: dict[str, dict[str, np.ndarray]] = {}
    for env in collection.envs():
        by_label = {label: finals(collection.group(env, label), metric) for label in collection.labels(env)}
        by_label = {k: v for k, v in by_label.items() if len(v)}
        scores[env] = by_label
        for x in by_label:
            for y in by_label:
                if x != y:
                    out.append(Improvement(env, x, y, stats.poi_ci(by_label[x], by_label[y], resamples)))
    envs = list(scores)
    common = [label for label in (scores[envs[0]] if envs else {}) if all(label in scores[e] for e in envs)]
    aggregate: list[tuple[str, tuple[float, float, float]]] = []
    if len(envs) > 1 and common:
        normalised = {env: stats.min_max_normalise({k: scores[env][k] for k in common}) for env in envs}
        runs = {label: min(len(normalised[e][label]) for e in envs) for label in common}
        matrix = {
            label: np.stack([normalised[e][label][: runs[label]] for e in envs], axis=1) for label in common
        }
        aggregate = [(label, stats.iqm_ci(matrix[label], resamples)) for label in common]
        for x in common:
            for y in common:
                if x != y:
                    out.append(Improvement("all", x, y, stats.poi_ci(matrix[x], matrix[y], resamples)))
    return out, aggregate


def _ci(t: tuple[float, float, float] | None, digits: int = 3) -> str:
    if t is None or math.isnan(t[0]):
        return "–"
    return f"{t[0]:.{digits}f} [{t[1]:.{digits}f}, {t[2]:.{digits}f}]"


def write(
    rows: list[Row],
    pairs: list[Improvement],
    aggregate: list[tuple[str, tuple[float, float, float]]],
    focus: str,
    out_dir: Path,
    metric: str,
    header: str,
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = [
        f"# {header}",
        "",
        f"Final score: the mean of each run's last 10 values of `{metric}`; mean over runs",
    ]
    md += [
        "with a 95% bootstrap CI (10,000 resamples of runs) and the interquartile mean (IQM) with its CI.",
        "",
    ]
    md += [
        "| environment | setting | runs | updates | final mean [95% CI] | IQM [95% CI] | greedy final | "
        "wall time / run | s / update | env steps / s |",
        "|---|---|---:|---:|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        md.append(
            f"| {r.env} | {r.label} | {r.runs} | {r.updates} | {_ci(r.final)} | {_ci(r.iqm)} | {_ci(r.greedy)} | "
            f"{r.wall_s:.1f} s | {r.s_per_update:.3f} | {r.steps_per_s:.0f} |"
        )
    focus_pairs = [p for p in pairs if p.x == focus]
    if focus_pairs:
        md += ["", f"## Probability of improvement of {focus}", "", "P(X > Y), ties counted one half, with a"]
        md += [
            "95% stratified bootstrap CI; `all`: averaged over environments (settings present in all).",
            "",
        ]
        md += ["| environment | Y | P(X > Y) [95% CI] |", "|---|---|---|"]
        md += [f"| {p.env} | {p.y} | {_ci(p.p, 2)} |" for p in focus_pairs]
    if aggregate:
        md += ["", "## Over all environments", "", "IQM of final scores min-max normalised per environment"]
        md += ["(over every run of every setting shown), stratified bootstrap CI.", ""]
        md += ["| setting | normalised IQM [95% CI] |", "|---|---|"]
        md += [f"| {label} | {_ci(t)} |" for label, t in aggregate]
    paths = [out_dir / "results.md", out_dir / "results.csv", out_dir / "improvement.csv"]
    paths[0].write_text("\n".join(md) + "\n")
    with paths[1].open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["env", "setting", "runs", "updates", "final_mean", "final_low", "final_high", "iqm", "iqm_low",
             "iqm_high", "greedy_mean", "greedy_low", "greedy_high", "wall_s_per_run", "s_per_update",
             "env_steps_per_s"]
        )  # fmt: skip
        for r in rows:
            greedy = r.greedy or (math.nan,) * 3
            w.writerow(
                [r.env, r.label, r.runs, r.updates, *r.final, *r.iqm, *greedy, r.wall_s, r.s_per_update,
                 r.steps_per_s]
            )  # fmt: skip
    with paths[2].open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["env", "x", "y", "p_x_greater_y", "low", "high"])
        for p in pairs:
            w.writerow([p.env, p.x, p.y, *p.p])
    return paths
