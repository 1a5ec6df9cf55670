"""Supervision by `vast train`'s launcher, with failures injected for real: kill -9 of an actor, of the
learner and of Redis during training, a role that keeps crashing, and an actor that never comes back."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import scrape, wait_until
from tests.integration.reliability import (
    Probe,
    audit_ledger,
    config,
    finish_and_audit,
    reproducible,
    serial_rows,
    wait_rows,
)
from vast.common import rundir
from vast.common.ports import free_port
from vast.common.store import RunStore, connect
from vast.launch.local import LocalCluster

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_killed_actor_and_learner_are_restarted_and_the_sync_run_changes_no_number(tmp_path):
    """kill -9 of an actor: restarted, and it holds the newest weights seconds after it is up. kill -9 of
    the learner: restarted from its last checkpoint, it redoes the lost updates. The run's rows equal the
    uninterrupted serial run's, and every acknowledged episode is accounted for in the ledger."""
    cfg = config(tmp_path, "crashes", **{"run.updates": 24})
    cluster = LocalCluster(cfg).start()
    store = RunStore(connect(cfg.redis_url), cfg.run.name)
    try:
        cluster.endpoints(timeout_s=90)
        probe = Probe(cfg, cfg.actor.replay_addr)
        wait_rows(cluster, 4, 90)
        old_url = store.endpoints()["actor:1"]
        cluster.procs["actor-1"].kill()
        new_url = wait_until(
            lambda: (
                cluster.learner_done()
                or (store.endpoints()["actor:1"] != old_url and store.endpoints()["actor:1"])
            ),
            90,
            "actor 1 to be restarted and announce itself",
        )
        up = time.monotonic()
        wait_until(
            lambda: scrape(new_url).get("vast_actor_policy_version", -1) >= store.published_version() - 1,
            15,
            "the restarted actor to hold the newest weights",
        )
        caught_up_s = time.monotonic() - up
        wait_rows(cluster, 12, 120)  # checkpoint at update 10
        cluster.procs["learner"].kill()
        wait_until(
            lambda: cluster.learner_done() or cluster.restarts.get("learner"),
            30,
            "the learner to be restarted",
        )
        ledger, launcher = finish_and_audit(cluster, store, probe)
    finally:
        cluster.stop()
        store.r.close()
    rows = rundir.read_rows(cluster.run_dir / rundir.METRICS)
    assert [r["update"] for r in rows] == list(range(1, 25)), "one row per update, redone ones once"
    assert reproducible(rows) == reproducible(serial_rows(tmp_path, cfg))
    assert cluster.restarts == {"actor-1": 1, "learner": 1}
    assert launcher['vast_launcher_restarts_total{role="actor"}'] == 1
    assert launcher['vast_launcher_restarts_total{role="learner"}'] == 1
    assert caught_up_s < 10, caught_up_s
    print(f"restarted actor held the newest weights {caught_up_s:.2f}s after announcing itself")
    assert ledger["consumed"] >= 24 * 10
    learner_log = (cluster.run_dir / "logs" / "learner.log").read_text()
    # the newest checkpoint when the kill landed (every 5 updates): 10, or later if the learner got there
    # before the kill
    resumed = re.search(r"resumed from \S+/checkpoints/update-(\d{8})\.pt", learner_log)
    assert resumed and int(resumed.group(1)) in (10, 15, 20), learner_log[-2000:]


@pytest.mark.timeout(240)
def test_redis_killed_mid_run_is_restarted_and_the_buffer_survives(tmp_path):
    cfg = config(tmp_path, "redis-crash", **{"run.updates": 16, "learner.mode": "async"})
    cluster = LocalCluster(cfg).start()
    store = RunStore(connect(cfg.redis_url, timeout_s=2), cfg.run.name)
    try:
        cluster.endpoints(timeout_s=90)
        wait_rows(cluster, 3, 90)
        learner = cluster.procs["learner"]
        os.kill(learner.pid, signal.SIGSTOP)  # the learner stalls: episodes pile up in the buffer
        try:
            wait_until(lambda: store.depth() >= 20, 60, "a buffer of 20 episodes")
            before = {f[b"k"] for _, f in store.r.xrange(store.episodes_key)}
            cluster.redis.proc.kill()
            wait_until(lambda: cluster.learner_done() or cluster.restarts.get("redis"), 60, "Redis restarted")
            after = {f[b"k"] for _, f in store.r.xrange(store.episodes_key)}
            assert before <= after, "acknowledged episodes vanished with Redis"
        finally:
            os.kill(learner.pid, signal.SIGCONT)
        wait_until(cluster.learner_done, 150, "the run to finish after the Redis crash")
        cluster.stop(keep_redis=True)
        ledger = audit_ledger(store)
    finally:
        cluster.stop()
        store.r.close()
    rows = rundir.read_rows(cluster.run_dir / rundir.METRICS)
    assert [r["update"] for r in rows] == list(range(1, 17))
    assert cluster.restarts == {"redis": 1}, "no role had to be restarted: they rode the outage out"
    assert ledger["consumed"] == 160


@pytest.mark.timeout(200)
def test_a_role_that_keeps_crashing_ends_the_run_with_its_name_and_log(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAST_")}
    cmd = [sys.executable, "-m", "vast", "train", "--env", "gaussian-squeeze-50", "--minutes", "5"]
    cmd += ["--run-dir", str(tmp_path), "--run-name", "flaky", "--no-progress", "--run.max_restarts", "1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        metrics = tmp_path / "flaky" / "metrics.jsonl"
        wait_until(lambda: len(rundir.read_rows(metrics)) >= 2, 120, "training to start")
        log = tmp_path / "flaky" / "logs" / "replay.log"
        for attempt in range(2):
            pid = wait_until(lambda: _pid_of(proc.pid, "replay"), 60, "a replay process")
            os.kill(pid, signal.SIGKILL)
            if attempt == 0:
                wait_until(lambda p=pid: _pid_of(proc.pid, "replay") not in (None, p), 60, "the restart")
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.decode()
    assert proc.returncode == 1, text
    assert "replay exited with code -9: restarting it" in text
    assert "replay keeps failing: exited with code -9, 2 failures" in text
    assert "last log lines of replay" in text and "replay listening on" in text  # its log, quoted
    assert "Traceback" not in text
    assert log.exists() and (tmp_path / "flaky" / "checkpoint.pt").exists(), "stopped in order"


def _pid_of(parent: int, role: str) -> int | None:
    import psutil

    for child in psutil.Process(parent).children():
        try:
            if child.cmdline()[3:4] == [role]:
                return child.pid
        except psutil.Error:  # a zombie (just killed, not yet reaped) or gone
            continue
    return None


@pytest.mark.timeout(240)
def test_an_actor_that_never_comes_back_has_its_slots_taken_over(tmp_path, redis_server, run_name):
    """Roles started one by one (no supervisor): actor 1 is killed for good. Once its heartbeat expired the
    learner re-issues its work-slot group, actor 0 plays it exactly as actor 1 would have. Then the learner
    is killed and started again by hand with `vast learner --resume`. The sync run ends with the same
    numbers as the serial run."""
    cfg = config(
        tmp_path,
        run_name,
        **{"run.updates": 10, "redis_url": redis_server.url, "run.heartbeat_ttl_s": 2},
    )
    replay_port, weights_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAST_")}
    env.update(VAST_REDIS_URL=redis_server.url)
    common = ["--config", str(tmp_path / "base.json")]
    cfg.replay.bind = cfg.actor.replay_addr = f"tcp://127.0.0.1:{replay_port}"
    cfg.learner.weights_bind = cfg.actor.weights_addr = f"tcp://127.0.0.1:{weights_port}"
    cfg.save(tmp_path / "base.json")
    logs = {}
    procs = {}
    for name, extra in (
        ("replay", []),
        ("learner", []),
        ("actor-0", ["--actor.id", "0"]),
        ("actor-1", ["--actor.id", "1"]),
    ):
        logs[name] = (tmp_path / f"{name}.log").open("wb")
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "vast", name.split("-")[0], *common, *extra],
            cwd=ROOT, env=env, stdout=logs[name], stderr=subprocess.STDOUT,
        )  # fmt: skip
    metrics = tmp_path / run_name / "metrics.jsonl"
    try:
        wait_until(lambda: len(rundir.read_rows(metrics)) >= 3, 120, "3 updates with both actors")
        procs["actor-1"].kill()
        wait_until(lambda: len(rundir.read_rows(metrics)) >= 6, 120, "updates without actor 1")
        procs["learner"].kill()  # its newest checkpoint is that of update 5
        procs["learner"].wait(10)
        procs["learner"] = subprocess.Popen(
            [sys.executable, "-m", "vast", "learner", "--resume", *common],
            cwd=ROOT, env=env, stdout=logs["learner"], stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs["learner"].wait(180)
        assert procs["learner"].returncode == 0
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for f in logs.values():
            f.close()
    rows = rundir.read_rows(metrics)
    assert [r["update"] for r in rows] == list(range(1, 11))
    assert rows[-1]["from_actors"] == [0], "actor 0 played actor 1's slots"
    assert reproducible(rows) == reproducible(serial_rows(tmp_path, cfg))
    actor_log = (tmp_path / "actor-0.log").read_text()
    assert "taking over work-slot group 1" in actor_log and "learner restarted: following it" in actor_log
    learner_log = (tmp_path / "learner.log").read_text()
    assert "re-issued work-slot groups [1]" in learner_log
    assert "resumed from" in learner_log and "update-00000005.pt" in learner_log
