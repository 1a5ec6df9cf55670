"""`vast evaluate` on a `vast train --serial` run directory: scores, a GIF, sub-team snapshots."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.helpers import serial_trainer
from vast.common import rundir
from vast.common.config import ConfigError
from vast.common.lifecycle import StopFlag
from vast.evaluate import main, snapshot_checkpoints


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("w4")
    overrides = {"env.name": "warehouse-4", "algo.assign": "spatial", "algo.eta": "0.5", "run.updates": "6"}
    overrides.update({"learner.keep_every": "2", "learner.eval_every": "3", "learner.eval_episodes": "2"})
    serial_trainer(path, **overrides).run(StopFlag())
    return path


def test_a_run_directory_is_scored_stochastic_and_greedy(trained, capsys):
    assert main([str(trained), "--episodes", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["updates"] == 6 and result["episodes"] == 4 and result["policy"] == "stochastic"
    assert result["ci95"][0] <= result["mean"] <= result["ci95"][1] and result["metric"] == "completed orders"
    assert main([str(trained / "kept" / "update-000002.pt"), "--episodes", "4", "--greedy", "--json"]) == 0
    greedy = json.loads(capsys.readouterr().out)
    assert greedy["updates"] == 2 and greedy["policy"] == "greedy"
    assert main([str(trained), "--episodes", "4", "--json"]) == 0  # seeded: the same episodes again
    assert json.loads(capsys.readouterr().out)["mean"] == result["mean"]


def test_an_episode_is_rendered_with_agents_coloured_by_sub_team(trained, tmp_path, capsys):
    gif = tmp_path / "w4.gif"
    assert main([str(trained), "--episodes", "1", "--render", str(gif), "--greedy"]) == 0
    image = Image.open(gif)
    assert image.n_frames == 51  # 50 steps of warehouse-4 and the final state


def test_sub_team_snapshots_show_early_middle_and_late_checkpoints(trained, tmp_path, capsys):
    assert [(stage, update) for stage, update, _ in snapshot_checkpoints(trained)] == [
        ("early", 2),
        ("middle", 4),
        ("late", -1),
    ]
    out = tmp_path / "subteams.png"
    assert main([str(trained), "--subteams", str(out), "--step", "3"]) == 0
    text = capsys.readouterr().out
    assert "early: update 2, t=3 (spatial)" in text and "late: update 6" in text
    assert Image.open(out).width > 3 * 3 * 32  # three panels of a 3-cell-wide warehouse


def test_bad_targets_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint"):
        main([str(tmp_path)])
    flat = tmp_path / "flat"
    serial_trainer(flat, **{"env.name": "gaussian-squeeze-10", "algo.algo": "il", "run.updates": "1"}).run(
        StopFlag()
    )
    assert (flat / rundir.CHECKPOINT).exists()
    with pytest.raises(ConfigError, match="warehouse-N and battle-N"):
        main([str(flat), "--render", str(tmp_path / "x.gif")])
