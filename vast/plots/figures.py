"""Figures in the paper's style: per environment, one curve per setting — the mean over runs of the
10-update moving average, a shaded 95% bootstrap CI, x in environment steps (update × episodes per
update × episode length, as the reference plots epochs), written as PNG and SVG."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vast.plots.runs import Collection, Run
from vast.plots.stats import RESAMPLES, bootstrap_mean_ci, moving_average

MAX_POINTS = 1000  # a 10,000-update curve is drawn (and bootstrapped) at this many evenly spaced points
COLORS = [
    "#1f77b4", "#08306b", "#ff7f0e", "#d62728", "#9467bd", "#2ca02c", "#17becf", "#e377c2", "#7f7f7f",
    "#bcbd22", "#8c564b",
]  # fmt: skip
LINESTYLES = ["-", "--", ":"]


def line_style(i: int) -> tuple[str, str]:
    """Colour and line style of the i-th curve: the colours first, then again dashed, then dotted, so
    a sweep with a `--set` twin of every setting (ten curves and more) keeps every curve distinct."""
    return COLORS[i % len(COLORS)], LINESTYLES[(i // len(COLORS)) % len(LINESTYLES)]


@dataclass
class Curve:
    label: str
    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    runs: int
    shortened: int  # runs cut to the shortest run of the group


def curve(runs: list[Run], metric: str, resamples: int = RESAMPLES, seed: int = 0) -> Curve | None:
    """The smoothed mean curve and its CI over `runs` (cut to the shortest); None if no run has data."""
    series = [(r, *r.series(metric)) for r in runs]
    series = [(r, e, moving_average(v)) for r, e, v in series if len(v)]
    if not series:
        return None
    length = min(len(s) for _, _, s in series)
    shortened = sum(1 for _, _, s in series if len(s) > length)
    first, epochs, _ = series[0]
    idx = np.unique(np.linspace(0, length - 1, min(length, MAX_POINTS)).round().astype(np.int64))
    curves = np.stack([s[:length][idx] for _, _, s in series])
    mean, low, high = bootstrap_mean_ci(curves, resamples=resamples, seed=seed)
    x = epochs[:length][idx] * first.episodes_per_update * first.episode_limit
    return Curve(runs[0].label, x.astype(np.float64), mean, low, high, len(series), shortened)


def plot_env(
    collection: Collection,
    env: str,
    metric: str,
    y_label: str,
    title: str,
    out_dir: Path,
    stem: str,
    resamples: int = RESAMPLES,
) -> tuple[list[Path], list[Curve]]:
    """One figure for `env`; returns the files written and the curves drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = []
    for label in collection.labels(env):
        c = curve(collection.group(env, label), metric, resamples)
        if c is not None:
            curves.append(c)
    if not curves:
        return [], []
    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=120)
    for i, c in enumerate(curves):
        color, style = line_style(i)
        ax.fill_between(c.x, c.low, c.high, color=color, alpha=0.15, linewidth=0)
        marker = "o" if len(c.x) == 1 else None  # a run shorter than the window: one smoothed point
        ax.plot(c.x, c.mean, color=color, ls=style, lw=1.4, marker=marker, label=f"{c.label} ({c.runs} runs)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(y_label)
    ax.set_title(f"{title}: {env}" if title else env)
    ax.grid(which="both", linestyle="--", alpha=0.5)
    ax.margins(x=0)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ax.legend(loc="best", fontsize=7, framealpha=0.8)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    for path in written:
        fig.savefig(path)
    plt.close(fig)
    return written, curves
