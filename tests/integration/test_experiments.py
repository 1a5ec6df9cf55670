"""`vast experiment` and `vast plot` as a user runs them: every paper preset end to end at a tiny budget,
worker processes that train exactly what one process trains, and a sweep killed with SIGKILL that
continues, on the next invocation, to the rows of an uninterrupted sweep."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.helpers import wait_until
from vast.common import rundir
from vast.experiment.presets import PRESETS

ROOT = Path(__file__).resolve().parents[2]


def vast(*args, timeout=300) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "vast", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def _deterministic(rows):
    return [{k: v for k, v in r.items() if k != "wall_s" and not k.startswith("time_")} for r in rows]


# CI budget: the paper's epochs x 0.001 (warehouse 3, battle 2, gaussian-squeeze 10 updates), one seed,
# two stochastic evaluation episodes and no greedy one. In this process (--jobs 1: torch is imported
# once for all presets; worker processes are tested below). paper-diversity is the VAST subset of
# paper-sota and runs on the three small environments here.
CI_ENVS = {"paper-diversity": "warehouse-4,battle-20,gaussian-squeeze-200"}
CI_SETTINGS = ["learner.eval_episodes=2", "learner.eval_greedy=false"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_runs_end_to_end_and_produces_its_plots_and_table(tmp_path, preset):
    from vast.experiment.cli import main as experiment
    from vast.plots.cli import main as plot

    p = PRESETS[preset]
    envs = CI_ENVS.get(preset, ",".join(p.envs)).split(",")
    out = tmp_path / preset
    args = ["--preset", preset, "--budget", "0.001", "--seeds", "1", "--jobs", "1", "--out", str(out)]
    args += ["--env", ",".join(envs), "--no-progress", *(a for kv in CI_SETTINGS for a in ("--set", kv))]
    assert experiment(args) == 0
    assert plot([str(out), "--resamples", "500"]) == 0
    plots = out / "plots"
    suffix = "" if p.metric == "eval_metric" else f".{p.metric}"
    for env in envs:
        for ext in ("png", "svg"):
            assert (plots / f"{env}{suffix}.{ext}").stat().st_size > 1000, (env, ext)
    with (plots / "results.csv").open() as fh:
        table = list(csv.DictReader(fh))
    tag = " [eval_episodes=2, eval_greedy=false]"  # --set keys are part of every label
    assert {(r["env"], r["setting"]) for r in table} == {
        (e, label + tag) for e in envs for _, label in p.settings(e)
    }
    assert all(int(r["runs"]) == 1 for r in table)
    assert "Probability of improvement" in (plots / "results.md").read_text()


def test_worker_processes_train_the_same_rows_as_one_process(tmp_path):
    common = [
        "--algos",
        "il,vast-qmix-random@0.5",
        "--env",
        "gaussian-squeeze-20",
        "--seeds",
        "2",
        "--updates",
        "3",
    ]
    vast("experiment", *common, "--jobs", "2", "--out", str(tmp_path / "pool"), "--no-progress")
    vast("experiment", *common, "--jobs", "1", "--out", str(tmp_path / "inline"), "--no-progress")
    keys = sorted(p.name for p in (tmp_path / "inline" / "runs").iterdir())
    assert len(keys) == 4
    for key in keys:
        pool = rundir.read_rows(tmp_path / "pool" / "runs" / key / rundir.METRICS)
        inline = rundir.read_rows(tmp_path / "inline" / "runs" / key / rundir.METRICS)
        assert len(pool) == 3 and _deterministic(pool) == _deterministic(inline), key


@pytest.mark.timeout(600)
def test_a_sweep_killed_with_sigkill_continues_to_the_rows_of_an_uninterrupted_one(tmp_path):
    common = ["--algos", "vast-qtran@0.25", "--env", "warehouse-4", "--seeds", "2", "--updates", "16"]
    common += ["--set", "learner.checkpoint_every=4", "--set", "learner.eval_episodes=2", "--no-progress"]
    vast("experiment", *common, "--jobs", "1", "--out", str(tmp_path / "straight"))
    killed = tmp_path / "killed"
    run_dirs = [killed / "runs" / d.name for d in sorted((tmp_path / "straight" / "runs").iterdir())]
    assert len(run_dirs) == 2
    proc = subprocess.Popen(
        [sys.executable, "-m", "vast", "experiment", *common, "--jobs", "2", "--out", str(killed)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # kill once a checkpoint exists and a run has gone past it, mid-run
        wait_until(
            lambda: any(
                (d / rundir.CHECKPOINT).exists() and len(rundir.read_rows(d / rundir.METRICS)) >= 6
                for d in run_dirs
            ),
            240,
            "a run to pass its first checkpoint",
        )
        workers = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)  # the sweep process only: no chance to clean up
        proc.wait(60)
        wait_until(
            lambda: not any(w.is_running() and w.status() != "zombie" for w in workers), 60, "workers to die"
        )
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(60)
    assert any(not (d / rundir.SUMMARY).exists() for d in run_dirs)
    vast("experiment", *common, "--jobs", "1", "--out", str(killed))
    for d in run_dirs:
        straight = rundir.read_rows(tmp_path / "straight" / "runs" / d.name / rundir.METRICS)
        continued = rundir.read_rows(d / rundir.METRICS)
        assert [r["update"] for r in continued] == list(range(1, 17))
        assert _deterministic(continued) == _deterministic(straight)
        assert json.loads((d / rundir.SUMMARY).read_text())["stopped_by"] == "updates"


@pytest.mark.timeout(300)
def test_vast_evaluate_works_on_a_multi_process_run_directory(tmp_path):
    from vast.common.config import resolve
    from vast.launch.local import LocalCluster

    overrides = {"env.name": "warehouse-4", "run.dir": str(tmp_path), "run.name": "mp", "run.updates": "4"}
    overrides.update({"learner.keep_every": "2", "learner.eval_episodes": "2", "algo.assign": "spatial"})
    cluster = LocalCluster(resolve(None, overrides, environ={})).start()
    try:
        wait_until(cluster.learner_done, 240, "the learner to finish 4 updates")
        assert cluster.procs["learner"].returncode == 0
    finally:
        cluster.stop()
    run_dir = tmp_path / "mp"
    out = vast("evaluate", str(run_dir), "--episodes", "3", "--json", "--subteams", str(tmp_path / "s.png"))
    result = json.loads(out.stdout)
    assert result["updates"] == 4 and result["env"] == "warehouse-4" and result["episodes"] == 3
    assert [p.split(":")[0] for p in result["subteams"]["panels"]] == ["early", "middle", "late"]
    assert (tmp_path / "s.png").stat().st_size > 1000
