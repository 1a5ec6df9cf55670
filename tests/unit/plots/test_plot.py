"""`vast plot` on real run directories: figures, the x-axis in environment steps, the results table."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from vast.common.config import ConfigError
from vast.experiment.cli import main as experiment
from vast.plots.cli import main as plot
from vast.plots.figures import curve
from vast.plots.runs import collect


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    args = ["--algos", "vast-qtran@0.25,il", "--env", "gaussian-squeeze-20,warehouse-4", "--seeds", "2"]
    args += [
        "--updates",
        "12",
        "--out",
        str(out),
        "--jobs",
        "1",
        "--no-progress",
        "--set",
        "learner.eval_episodes=2",
    ]
    assert experiment(args) == 0
    return out


def test_curves_are_smoothed_means_over_runs_against_environment_steps(sweep):
    collection, info = collect([sweep])
    assert info["labels"][0].startswith("VAST-QTRAN") and collection.envs() == [
        "gaussian-squeeze-20",
        "warehouse-4",
    ]
    runs = collection.group("warehouse-4", collection.labels("warehouse-4")[0])
    c = curve(runs, "eval_metric", resamples=200)
    assert c.runs == 2 and len(c.x) == 12 - 10 + 1
    np.testing.assert_array_equal(c.x, [0, 500, 1000])  # epoch x 10 episodes x 50 steps (reference)
    by_hand = np.mean(
        [np.convolve(r.series("eval_metric")[1], np.ones(10) / 10, "valid") for r in runs], axis=0
    )
    np.testing.assert_allclose(c.mean, by_hand)
    assert (c.low <= c.mean + 1e-12).all() and (c.mean <= c.high + 1e-12).all()


def test_plot_writes_figures_and_tables(sweep, tmp_path, capsys):
    assert plot([str(sweep), "--out", str(tmp_path), "--resamples", "300"]) == 0
    for env in ("gaussian-squeeze-20", "warehouse-4"):
        assert (tmp_path / f"{env}.png").stat().st_size > 1000
        assert (tmp_path / f"{env}.svg").read_text().lstrip().startswith("<?xml")
    with (tmp_path / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["env"], r["setting"]) for r in rows][:2] == [
        ("gaussian-squeeze-20", "VAST-QTRAN (η=1/4) [eval_episodes=2]"),
        ("gaussian-squeeze-20", "IL [eval_episodes=2]"),
    ]
    for r in rows:
        assert int(r["runs"]) == 2 and int(r["updates"]) == 12
        assert float(r["final_low"]) <= float(r["final_mean"]) <= float(r["final_high"])
        assert float(r["s_per_update"]) > 0 and float(r["env_steps_per_s"]) > 0
        assert r["greedy_mean"] != "nan"
    md = (tmp_path / "results.md").read_text()
    assert "Probability of improvement of VAST-QTRAN" in md and "Over all environments" in md
    with (tmp_path / "improvement.csv").open() as fh:
        pairs = list(csv.DictReader(fh))
    assert {p["env"] for p in pairs} == {"gaussian-squeeze-20", "warehouse-4", "all"}
    # mode D on the same runs: division diversity of the VAST runs (IL has no sub-teams)
    assert plot([str(sweep), "--out", str(tmp_path / "d"), "--mode", "D", "--resamples", "100"]) == 0
    with (tmp_path / "d" / "results.csv").open() as fh:
        assert {r["setting"] for r in csv.DictReader(fh)} == {"VAST-QTRAN (η=1/4) [eval_episodes=2]"}
    assert (tmp_path / "d" / "warehouse-4.diversity.png").exists()


def test_plain_run_directories_are_labelled_from_their_config(sweep, tmp_path):
    one = next((sweep / "runs").glob("warehouse-4.il*.seed0"))
    assert plot([str(one), "--out", str(tmp_path), "--resamples", "100"]) == 0
    assert (tmp_path / "warehouse-4.png").exists()
    with pytest.raises(ConfigError, match="no run directories"):
        plot([str(tmp_path), "--out", str(tmp_path / "x")])


def test_every_curve_of_a_large_figure_has_its_own_colour_and_line_style():
    from vast.plots.figures import line_style

    styles = [line_style(i) for i in range(30)]
    assert len(set(styles)) == 30
