"""`vast plot RUN_DIRS...|SWEEP_DIR`: one figure per environment (PNG and SVG) and a results table.

vast plot experiments/paper-sota                   # -> experiments/paper-sota/plots/
vast plot experiments/paper-sota --mode D          # division diversity of the same runs
vast plot runs/a runs/b --out figures/             # any run directories (labels from their configs)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vast.common.config import ConfigError
from vast.plots.stats import RESAMPLES

MODE_TITLES = {
    "S": "State-of-the-art comparison",
    "F": "VFF operators",
    "A": "Sub-team assignment strategies",
    "D": "Division diversity",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vast plot",
        description="The paper's figures (mean of runs, 95%% bootstrap CI, 10-update moving average, x in "
        "environment steps) and a results table (Markdown and CSV, with IQM and probability of improvement).",
        allow_abbrev=False,
    )
    p.add_argument("paths", nargs="+", help="run directories, folders holding them, or one sweep directory")
    p.add_argument("--out", help="output folder (default: SWEEP_DIR/plots, or ./plots)")
    p.add_argument(
        "--mode",
        choices=sorted(MODE_TITLES),
        help="plot mode; D plots division diversity (default: the sweep's)",
    )
    p.add_argument("--metric", help="metrics-row key to plot (default eval_metric; diversity in mode D)")
    p.add_argument(
        "--resamples", type=int, default=RESAMPLES, help=f"bootstrap resamples (default {RESAMPLES})"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from vast.plots import figures, tables
    from vast.plots.runs import collect

    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"no such directory: {', '.join(missing)}")
    collection, sweep = collect(paths)
    if not collection.runs:
        raise ConfigError(
            f"no run directories (config.json + metrics.jsonl) under {', '.join(map(str, paths))}"
        )
    mode = args.mode or sweep.get("mode", "")
    metric = args.metric or ("diversity" if mode == "D" else "eval_metric")
    out = Path(args.out) if args.out else (paths[0] / "plots" if sweep else Path("plots"))
    title = MODE_TITLES.get(mode, "")
    focus = _focus_label(sweep, collection)
    written = []
    for env in collection.envs():
        sample = collection.runs[[r.env for r in collection.runs].index(env)]
        y_label = "division diversity" if metric == "diversity" else sample.metric_name
        stem = env if metric == "eval_metric" else f"{env}.{metric}"
        files, curves = figures.plot_env(collection, env, metric, y_label, title, out, stem, args.resamples)
        written += files
        for c in curves:
            if c.shortened:
                print(f"note: {env} / {c.label}: {c.shortened} of {c.runs} runs cut to the shortest run")
    rows = tables.summarise(collection, metric, args.resamples)
    pairs, aggregate = tables.improvements(collection, metric, args.resamples)
    header = f"{title or 'Results'} ({metric})"
    written += tables.write(rows, pairs, aggregate, focus, out, metric, header)
    print(f"{len(collection.runs)} runs, {len(collection.envs())} environments -> {out}")
    for path in written:
        print(f"  {path}")
    return 0


def _focus_label(sweep: dict, collection) -> str:
    """The setting the table compares with the others: the sweep's focus, else the first label."""
    focus = sweep.get("focus", "")
    for run in sweep.get("runs", []):
        if run["setting"] == focus:
            return run["label"]
    envs = collection.envs()
    return collection.labels(envs[0])[0] if envs else ""


if __name__ == "__main__":
    sys.exit(main())
