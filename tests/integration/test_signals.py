"""SIGINT and SIGTERM stop `vast train` and every role in order, even when the parent started them with
SIGINT ignored (nohup, `cmd &` in a script, some CI runners): the handlers are installed explicitly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.helpers import wait_until
from vast.common.rundir import read_rows

ROOT = Path(__file__).resolve().parents[2]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("VAST_")}


def _stamp(path: Path, pattern: str) -> str:
    """The timestamp of the first log line matching `pattern`."""
    for line in path.read_text().splitlines():
        if re.search(pattern, line):
            return line[:23]
    raise AssertionError(f"no line matching {pattern!r} in {path}")


@pytest.mark.timeout(200)
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_vast_train_stops_in_order_on_a_signal_even_with_sigint_ignored(tmp_path, sig, code):
    cmd = [sys.executable, "-m", "vast", "train", "--env", "gaussian-squeeze-50", "--minutes", "5"]
    cmd += ["--run-dir", str(tmp_path), "--run-name", "sig", "--no-progress", "--actors", "2"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_ignore_sigint
    )
    run = tmp_path / "sig"
    try:
        wait_until(lambda: len(read_rows(run / "metrics.jsonl")) >= 3, 120, "three updates")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 5  # redis, replay, learner, 2 actors
        assert all(c.status() != psutil.STATUS_ZOMBIE for c in children)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, out.decode()
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running: {alive}"
    summary = json.loads((run / "summary.json").read_text())
    assert "SIGTERM" in summary["stopped_by"] and (run / "checkpoint.pt").exists()
    logs = run / "logs"
    launcher = (logs / "launcher.log").read_text()
    order = [
        launcher.index(s) for s in ("stopping the learner", "stopping 3 actors and replay", "stopping Redis")
    ]
    assert order == sorted(order)
    learner_done = _stamp(logs / "learner.log", "learner stopped after")
    for role in ("actor-0", "actor-1", "replay"):
        assert _stamp(logs / f"{role}.log", r"stopped \(signal SIGTERM\)") >= learner_done, role


@pytest.mark.timeout(120)
def test_a_role_started_with_sigint_ignored_still_stops_on_sigint(tmp_path, redis_server, run_name):
    from vast.common.ports import free_port

    cmd = [sys.executable, "-m", "vast", "replay", "--redis-url", redis_server.url, "--run-name", run_name]
    cmd += ["--replay.bind", f"tcp://127.0.0.1:{free_port()}"]
    log = tmp_path / "replay.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT, preexec_fn=_ignore_sigint
        )
        try:
            wait_until(lambda: "replay listening on" in log.read_text(), 60, "replay to start")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "replay stopped (signal SIGINT)" in log.read_text()
