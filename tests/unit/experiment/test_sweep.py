"""Sweeps: the grid, one run directory per run, skipping finished runs, continuing stopped ones
from their checkpoint with the rows an uninterrupted run writes, and refusing a changed config."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from vast.common import rundir
from vast.common.config import ConfigError
from vast.experiment.cli import main, make_plan, parser
from vast.experiment.sweep import run_state

ENV = "gaussian-squeeze-20"
SMALL_SWEEP = ["--algos", "vast-qtran@0.25,il", "--env", ENV, "--seeds", "2", "--updates", "4"]


def _args(tmp_path, *extra):
    return parser().parse_args([*SMALL_SWEEP, "--out", str(tmp_path), *extra])


def _deterministic(rows):
    return [{k: v for k, v in r.items() if k != "wall_s" and not k.startswith("time_")} for r in rows]


def _rows(tmp_path, key):
    return rundir.read_rows(tmp_path / "runs" / key / rundir.METRICS)


def test_the_grid_is_settings_times_environments_times_seeds(tmp_path):
    plan = make_plan(
        parser().parse_args(["--preset", "paper-assignment", "--budget", "0.01", "--out", str(tmp_path)])
    )
    assert len(plan.runs) == 3 * 5 * 5 and plan.mode == "A"
    by_env = {r.env: r.updates for r in plan.runs}
    assert by_env == {"warehouse-16": 30, "battle-80": 20, "gaussian-squeeze-800": 100}
    keys = {r.key for r in plan.runs}
    assert "battle-80.qmix.seed4" in keys and "warehouse-16.vast-qtran-spatial@0.25.seed0" in keys
    run = next(r for r in plan.runs if r.key == "battle-80.vast-qtran-spatial@0.25.seed3")
    assert run.config["algo"]["assign"] == "spatial" and run.config["run"]["seed"] == 3
    assert run.config["run"]["serial"] and run.config["run"]["label"] == "VAST (X = Spatial)"
    assert plan.runs[0].cost > 0
    custom = make_plan(
        parser().parse_args(
            [
                "--preset",
                "paper-sota",
                "--env",
                "warehouse-8",
                "--set",
                "learner.eval_episodes=2",
                "--out",
                str(tmp_path),
            ]
        )
    )
    assert {r.env for r in custom.runs} == {"warehouse-8"} and len(custom.runs) == 25
    assert all(
        r.config["learner"]["eval_episodes"] == 2 and r.label.endswith("[eval_episodes=2]")
        for r in custom.runs
    )
    # a --set setting is another setting: its runs get their own directories beside the plain ones
    plain = make_plan(
        parser().parse_args(["--preset", "paper-sota", "--env", "warehouse-8", "--out", str(tmp_path)])
    )
    assert {r.key for r in plain.runs}.isdisjoint(r.key for r in custom.runs)
    assert "warehouse-8.qmix+learner.eval_episodes=2.seed0" in {r.key for r in custom.runs}
    # ...and the table's focus (the preset's VAST setting) is that setting with the same overrides
    assert plain.focus == "vast-qtran-metagrad@0.25"
    assert custom.focus == "vast-qtran-metagrad@0.25:learner.eval_episodes=2"
    assert custom.focus in {r.setting for r in custom.runs}


def test_a_sweep_writes_one_run_directory_per_run_and_skips_finished_ones(tmp_path):
    assert main([*SMALL_SWEEP, "--out", str(tmp_path), "--jobs", "1", "--no-progress"]) == 0
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["labels"] == ["VAST-QTRAN (η=1/4)", "IL"] and len(sweep["runs"]) == 4
    for run in sweep["runs"]:
        path = tmp_path / "runs" / run["key"]
        config = json.loads((path / rundir.CONFIG).read_text())
        assert config["run"]["seed"] == run["seed"] and config["learner"]["resume"] == ""
        assert [r["update"] for r in rundir.read_rows(path / rundir.METRICS)] == [1, 2, 3, 4]
        assert json.loads((path / rundir.SUMMARY).read_text())["stopped_by"] == "updates"
    plan = make_plan(_args(tmp_path))
    assert {run_state(r) for r in plan.runs} == {"done"}
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob(rundir.METRICS)}
    assert main([*SMALL_SWEEP, "--out", str(tmp_path), "--jobs", "1", "--no-progress"]) == 0
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob(rundir.METRICS)}


def test_a_killed_run_continues_from_its_checkpoint_with_the_same_rows(tmp_path):
    from vast.experiment.sweep import execute

    straight = make_plan(
        _args(tmp_path / "straight", "--updates", "6", "--set", "learner.checkpoint_every=2")
    )
    killed = make_plan(_args(tmp_path / "killed", "--updates", "6", "--set", "learner.checkpoint_every=2"))
    run, twin = straight.runs[0], killed.runs[0]
    assert execute(run)["status"] == "done"
    # the killed twin: trained to update 4 (checkpoint), then rows 5 and 6 written but no checkpoint
    early = make_plan(
        _args(tmp_path / "killed", "--updates", "4", "--set", "learner.checkpoint_every=2")
    ).runs[0]
    assert execute(early)["status"] == "done"
    metrics = twin.run_dir / rundir.METRICS
    with metrics.open("a") as fh:
        fh.write(json.dumps({"update": 5, "junk": 1}) + "\n" + json.dumps({"update": 6, "junk": 1}) + "\n")
    (twin.run_dir / rundir.SUMMARY).unlink()
    assert run_state(twin) == "resume"
    outcome = execute(twin)
    assert outcome == {"key": twin.key, "status": "done", "resumed_from": 4}
    assert _deterministic(rundir.read_rows(metrics)) == _deterministic(
        rundir.read_rows(run.run_dir / rundir.METRICS)
    )
    summary = json.loads((twin.run_dir / rundir.SUMMARY).read_text())
    assert summary["updates"] == 6 and summary["wall_s"] >= rundir.read_rows(metrics)[3]["wall_s"]


def test_a_stopped_sweep_run_is_resumed_and_a_changed_config_is_refused(tmp_path):
    from vast.common.lifecycle import StopFlag
    from vast.experiment.sweep import execute

    run = make_plan(_args(tmp_path)).runs[0]
    stop = StopFlag()
    stop.set("test")
    assert execute(run, stop)["status"] == "stopped"  # stopped before its first update: checkpoint at 0
    assert run_state(run) == "resume"
    assert execute(run)["status"] == "done"
    assert [r["update"] for r in rundir.read_rows(run.run_dir / rundir.METRICS)] == [1, 2, 3, 4]
    changed = make_plan(_args(tmp_path, "--set", "algo.lr=0.01")).runs[0]
    changed.config["run"]["name"] = run.config["run"]["name"]  # the same directory, another config
    with pytest.raises(ConfigError, match="another configuration.*algo.lr"):
        run_state(changed)


def test_a_failing_run_is_reported_and_the_sweep_goes_on(tmp_path):
    from vast.experiment.sweep import run_sweep

    plan = make_plan(_args(tmp_path))
    plan.runs[0].config["env"]["name"] = "gaussian-squeeze-0"  # invalid: fails inside the run
    result = run_sweep(plan, jobs=1, console=Console(quiet=True), progress=False)
    assert result["done"] == 3 and len(result["failed"]) == 1
    assert "error.txt" in {p.name for p in (tmp_path / "runs" / plan.runs[0].key).iterdir()}


def test_a_run_made_before_a_config_key_existed_still_matches_at_that_keys_default():
    from vast.common.config import Config
    from vast.experiment.sweep import config_differences

    new = Config().to_dict()
    old = json.loads(json.dumps(new))
    del old["replay"]["replicas"]  # keys added to vast after the run was made
    del old["redis_shards"]
    assert config_differences(old, new) == []
    changed = json.loads(json.dumps(new))
    changed["replay"]["replicas"] = 3
    assert config_differences(old, changed) == ["replay.replicas: 1 -> 3"]
    old["gone"] = 1  # a key vast no longer has still counts
    assert config_differences(old, new) == ["gone: 1 -> None"]
