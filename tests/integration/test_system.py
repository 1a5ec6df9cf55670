"""The whole system as real processes: embedded Redis, replay, learner and two actors.

Asserts what the walking skeleton promises: episodes of every actor are trained on, every actor
receives newer weights, every metrics endpoint answers, and the process tree ends cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.helpers import scrape, wait_until
from vast.common.config import resolve
from vast.common.lifecycle import StopFlag
from vast.common.rundir import read_rows
from vast.launch.local import LocalCluster
from vast.learner.local_source import LocalEpisodeSource
from vast.learner.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path, **extra):
    overrides = {
        "env.name": "gaussian-squeeze-50",
        "run.dir": str(tmp_path),
        "run.name": "system",
        "run.updates": "12",
        "run.seed": "3",
        "learner.eval_every": "4",
        "actors": "2",
    }
    overrides.update(extra)
    return resolve(None, overrides, environ={})


@pytest.mark.timeout(180)
def test_learner_replay_and_two_actors_as_processes(tmp_path):
    cfg = _config(tmp_path)
    cluster = LocalCluster(cfg).start()
    try:
        endpoints = cluster.endpoints(timeout_s=60)
        assert set(endpoints) == {"replay:0", "learner:0", "actor:0", "actor:1"}
        wait_until(cluster.learner_done, 120, "the learner to finish 12 updates")
        cluster.check_children()  # nobody crashed
        assert cluster.procs["learner"].returncode == 0
        for role, url in endpoints.items():
            if role == "learner:0":
                continue  # finished: its endpoint went away with it
            metrics = scrape(url)
            assert any(name.startswith("vast_") for name in metrics), role
            if role.startswith("actor"):
                assert metrics["vast_actor_policy_version"] >= 11, f"{role} never saw newer weights"
                assert (
                    metrics['vast_actor_weight_updates_total{source="broadcast"}']
                    + metrics.get('vast_actor_weight_updates_total{source="redis"}', 0)
                    >= 11
                )
                assert metrics["vast_actor_episodes_total"] >= 5 * 12
            else:
                assert metrics["vast_replay_episodes_accepted_total"] >= 10 * 12
                assert metrics['vast_replay_episodes_rejected_total{reason="malformed"}'] == 0
    finally:
        procs = list(cluster.procs.values())
        cluster.stop()
    # every child ended on its own SIGTERM handling (exit code 0), Redis included
    for name, proc in cluster.procs.items():
        assert proc.returncode == 0, f"{name} exited with {proc.returncode}"
    assert cluster.redis.proc.poll() is not None
    assert not [p for p in procs if psutil.pid_exists(p.pid) and psutil.Process(p.pid).status() != "zombie"]
    rows = read_rows(tmp_path / "system" / "metrics.jsonl")
    assert [r["update"] for r in rows] == list(range(1, 13))
    assert [r["version"] for r in rows] == list(range(1, 13))
    assert all(r["episodes"] == 10 * r["update"] for r in rows)
    assert all(r["from_actors"] == [0, 1] for r in rows), "every batch holds episodes of both actors"
    assert sum(r["eval_metric"] is not None for r in rows) == 3
    for name in ("config.json", "checkpoint.pt", "learning_curve.png", "summary.json"):
        assert (tmp_path / "system" / name).exists(), name


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.timeout(240)
def test_vast_train_cli_stops_cleanly_on_ctrl_c(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAST_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vast",
            "train",
            "--env",
            "gaussian-squeeze-50",
            "--minutes",
            "5",
            "--actors",
            "2",
            "--run-dir",
            str(tmp_path),
            "--run-name",
            "cli",
            "--no-progress",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        metrics_log = tmp_path / "cli" / "metrics.jsonl"
        wait_until(lambda: len(read_rows(metrics_log)) >= 3, 120, "three updates")
        children = _descendants(proc.pid)
        assert len(children) >= 5  # redis, replay, learner, 2 actors
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.decode()
    assert proc.returncode == 130, text
    assert "metrics" in text and "http://" in text  # endpoints were printed at start
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"orphaned: {alive}"
    run = tmp_path / "cli"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["updates"] >= 3 and "SIGTERM" in summary["stopped_by"]
    assert (run / "checkpoint.pt").exists() and (run / "learning_curve.png").exists()


def _run(tmp_path, name, **extra) -> list[dict]:
    cfg = _config(tmp_path, **{"run.name": name, **extra})
    cluster = LocalCluster(cfg).start()
    try:
        wait_until(cluster.learner_done, 240, f"run {name} to finish")
        cluster.check_children()
    finally:
        cluster.stop()
    return read_rows(tmp_path / name / "metrics.jsonl")


@pytest.mark.timeout(400)
def test_sync_runs_are_identical_in_processes_and_in_one_process_and_learn(tmp_path):
    """Same seed, same config: the multi-process run (Redis, ZeroMQ, two actor processes) and the serial
    run (`vast train --serial`) train on identical data and write identical losses and evaluations,
    whatever the timing; and VAST-QTRAN learns GaussianSqueeze-200."""
    extra = {
        "env.name": "gaussian-squeeze-200",
        "run.updates": "80",
        "learner.eval_every": "20",
        "run.seed": "5",
    }
    processes = _run(tmp_path, "processes", **extra)
    cfg = _config(tmp_path, **{"run.name": "serial", **extra})
    source = LocalEpisodeSource(cfg, cfg.env.spec())
    Trainer(cfg, source, source, tmp_path / "serial").run(StopFlag())
    serial = read_rows(tmp_path / "serial" / "metrics.jsonl")
    keys = [k for k in processes[0] if not (k == "wall_s" or k.startswith("time_"))]
    assert "loss/critic" in keys and "eval_metric" in keys and len(processes) == len(serial) == 80
    for r1, r2 in zip(processes, serial):
        assert {k: r1[k] for k in keys} == {k: r2[k] for k in keys}, f"update {r1['update']} differs"
    evals = [r["eval_metric"] for r in processes if r["eval_metric"] is not None]
    random_policy = 1.74  # GS(900): the expected performance of uniform actions at N=200
    assert evals[-1] > 50 * random_policy, evals


@pytest.mark.timeout(240)
def test_async_mode_bounds_policy_lag(tmp_path):
    rows = _run(
        tmp_path,
        "async",
        **{
            "learner.mode": "async",
            "learner.max_policy_lag": "1",
            "run.updates": "30",
            "learner.eval_every": "10",
        },
    )
    assert len(rows) == 30
    assert all(r["policy_lag_max"] <= 1 for r in rows)
    assert all(r["episodes"] == 10 * r["update"] for r in rows)


@pytest.mark.timeout(240)
def test_roles_started_separately_configured_by_environment_only(tmp_path, redis_server, run_name):
    """The container path: `vast replay|learner|actor` as separate processes, configured only through
    VAST_* environment variables and connected by host:port."""
    from vast.common.ports import free_port

    replay_port, weights_port = free_port(), free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("VAST_")}
    base.update(
        {
            "VAST_REDIS_URL": redis_server.url,
            "VAST_RUN__NAME": run_name,
            "VAST_RUN__DIR": str(tmp_path),
            "VAST_RUN__UPDATES": "6",
            "VAST_ENV__NAME": "gaussian-squeeze-30",
            "VAST_LEARNER__MODE": "async",
            "VAST_LEARNER__EVAL_EVERY": "0",
            "VAST_REPLAY__BIND": f"tcp://127.0.0.1:{replay_port}",
            "VAST_LEARNER__WEIGHTS_BIND": f"tcp://127.0.0.1:{weights_port}",
            "VAST_ACTOR__REPLAY_ADDR": f"tcp://127.0.0.1:{replay_port}",
            "VAST_ACTOR__WEIGHTS_ADDR": f"tcp://127.0.0.1:{weights_port}",
            "VAST_ACTORS": "1",
        }
    )
    logs = {role: tmp_path / f"{role}.log" for role in ("replay", "learner", "actor")}
    procs = {
        role: subprocess.Popen(
            [sys.executable, "-m", "vast", role], cwd=ROOT, env=base,
            stdout=logs[role].open("wb"), stderr=subprocess.STDOUT,
        )
        for role in ("replay", "learner", "actor")
    }  # fmt: skip
    try:
        procs["learner"].wait(180)
        assert procs["learner"].returncode == 0, logs["learner"].read_text()[-3000:]
        for role in ("replay", "actor"):
            assert procs[role].poll() is None, f"{role} died: {logs[role].read_text()[-3000:]}"
            procs[role].send_signal(signal.SIGTERM)
            try:
                assert procs[role].wait(30) == 0, logs[role].read_text()[-3000:]
            except subprocess.TimeoutExpired:
                pytest.fail(f"{role} ignored SIGTERM: {logs[role].read_text()[-3000:]}")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    rows = read_rows(tmp_path / run_name / "metrics.jsonl")
    assert [r["update"] for r in rows] == [1, 2, 3, 4, 5, 6]
    saved = json.loads((tmp_path / run_name / "config.json").read_text())
    assert saved["learner"]["mode"] == "async" and saved["env"]["name"] == "gaussian-squeeze-30"


@pytest.mark.timeout(300)
def test_learner_resumes_from_its_checkpoint(tmp_path):
    first = _run(tmp_path, "first", **{"run.updates": "5", "learner.eval_every": "0"})
    assert first[-1]["version"] == 5
    checkpoint = tmp_path / "first" / "checkpoint.pt"
    second = _run(
        tmp_path,
        "second",
        **{"run.updates": "8", "learner.eval_every": "0", "learner.resume": str(checkpoint)},
    )
    assert [r["version"] for r in second] == [6, 7, 8], "training continues from version 5, not from scratch"
    assert second[0]["episodes"] == 60
