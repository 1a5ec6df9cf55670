"""The learning curve PNG of a run, drawn from its metrics log."""

from __future__ import annotations

from pathlib import Path

from vast.common.rundir import read_rows


def plot_curve(metrics_path: Path, out: Path, title: str, metric_name: str) -> bool:
    """Evaluation and training metric over environment steps; False if nothing was evaluated yet."""
    import matplotlib  # here: matplotlib costs a second to import and only this function needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read_rows(metrics_path) if r.get("eval_metric") is not None]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(
        [r["env_steps"] for r in rows],
        [r["eval_metric"] for r in rows],
        lw=1.2,
        label="evaluation (mean of episodes)",
    )
    train = [r for r in read_rows(metrics_path) if r.get("train_metric") is not None]
    if train:
        ax.plot(
            [r["env_steps"] for r in train],
            [r["train_metric"] for r in train],
            lw=0.8,
            alpha=0.5,
            label="training batch",
        )
    ax.set_xlabel("environment steps (training)")
    ax.set_ylabel(metric_name)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return True
