"""`vast train --resume RUN_DIR`: a finished (or crashed) run continues in its own directory with its
saved config, its newest checkpoint and (embedded Redis) its buffer, and ends with the numbers of a run
that was never interrupted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.reliability import config, reproducible, serial_rows
from vast.cli import main
from vast.common import rundir
from vast.common.embedded_redis import EmbeddedRedis
from vast.common.store import RunStore, connect

ROOT = Path(__file__).resolve().parents[2]


def _vast(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAST_")}
    done = subprocess.run(
        [sys.executable, "-m", "vast", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stderr


@pytest.mark.timeout(400)
def test_vast_train_resume_continues_the_run_in_place(tmp_path):
    cfg = config(tmp_path, "resumed", **{"run.updates": 12})
    first = ["train", "--env", cfg.env.name, "--seed", str(cfg.run.seed), "--updates", "7", "--no-progress"]
    first += ["--run-dir", str(tmp_path), "--run-name", "resumed", "--learner.eval_every", "5"]
    first += ["--actors", str(cfg.actors)]  # the serial run's work-slot split
    first += ["--learner.checkpoint_every", "5"]
    _vast(*first)
    run = tmp_path / "resumed"
    assert len(rundir.read_rows(run / rundir.METRICS)) == 7
    out = _vast("train", "--resume", str(run), "--updates", "12", "--no-progress")
    assert "done: 12 updates" in out
    rows = rundir.read_rows(run / rundir.METRICS)
    assert [r["update"] for r in rows] == list(range(1, 13))
    assert reproducible(rows) == reproducible(serial_rows(tmp_path, cfg))
    assert "resumed from" in (run / "logs" / "learner.log").read_text()
    # the embedded Redis came back on the same folder: its ledger spans both launches
    redis = EmbeddedRedis(run / "redis", appendonly=True).start()
    try:
        store = RunStore(connect(redis.url), "resumed")
        assert store.ledger()["consumed"] == 12 * 10
        store.r.close()
    finally:
        redis.stop()


def test_serial_resume_continues_the_run_in_place(tmp_path, capsys):
    args = [
        "train",
        "--serial",
        "--env",
        "gaussian-squeeze-50",
        "--run-dir",
        str(tmp_path),
        "--run-name",
        "s",
    ]
    args += ["--no-progress", "--learner.eval_every", "2"]
    assert main([*args, "--updates", "4"]) == 0
    assert main(["train", "--resume", str(tmp_path / "s"), "--updates", "6", "--no-progress"]) == 0
    assert main([*args, "--run-name", "straight", "--updates", "6"]) == 0
    resumed = rundir.read_rows(tmp_path / "s" / rundir.METRICS)
    straight = rundir.read_rows(tmp_path / "straight" / rundir.METRICS)
    assert [r["update"] for r in resumed] == list(range(1, 7))
    assert reproducible(resumed) == reproducible(straight)
