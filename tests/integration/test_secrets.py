"""`vast train` with every secret in play: a password-protected Redis and CURVE keys on both ZeroMQ
channels. The run trains; no secret appears in the run directory, its logs or the console; every
listening socket (metrics, episodes, weights) is on localhost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.helpers import wait_until
from vast.common.embedded_redis import EmbeddedRedis
from vast.common.rundir import read_rows
from vast.common.transport import generate_keys

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-Zq81-never-written"


@pytest.mark.timeout(200)
def test_no_secret_reaches_the_run_directory_or_the_logs(tmp_path):
    server_public, server_secret = generate_keys(tmp_path / "keys", "server")
    _, actor_secret = generate_keys(tmp_path / "keys" / "actors", "actor")
    secret_keys = [
        line.split('"')[1]
        for path in (server_secret, actor_secret)
        for line in path.read_text().splitlines()
        if "secret-key" in line
    ]
    assert len(secret_keys) == 2
    redis = EmbeddedRedis(tmp_path / "redis", extra_args=("--requirepass", PASSWORD)).start()
    url = f"redis://:{PASSWORD}@127.0.0.1:{redis.port}/0"
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "vast", "train", "--env", "gaussian-squeeze-50", "--updates", "8"]
    cmd += ["--run-dir", str(runs), "--run-name", "secret", "--no-progress", "--redis-url", url]
    cmd += ["--actors", "2"]
    cmd += [
        "--auth.server_key",
        str(server_secret),
        "--auth.authorized_keys",
        str(tmp_path / "keys" / "actors"),
    ]
    cmd += ["--auth.client_key", str(actor_secret), "--auth.server_public", str(server_public)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAST_")}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    listening = set()
    try:
        run = runs / "secret"

        def sockets_of_every_role() -> bool:
            tree = psutil.Process(proc.pid).children(recursive=True) + [psutil.Process(proc.pid)]
            for p in tree:
                try:
                    if "redis-server" in p.name():
                        continue
                    listening.update(
                        (c.laddr.ip, p.pid)
                        for c in p.net_connections("inet")
                        if c.status == psutil.CONN_LISTEN
                    )
                except psutil.Error:
                    continue
            return len({pid for _, pid in listening}) >= 5  # launcher, replay, learner, 2 actors

        wait_until(sockets_of_every_role, 120, "every process to listen")
        out, _ = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
        redis.stop()
    text = out.decode()
    assert proc.returncode == 0, text
    assert len(read_rows(run / "metrics.jsonl")) == 8, "it trained, through CURVE and the password"
    assert "redis://:***@127.0.0.1" in text
    assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening
    files = [p for p in run.rglob("*") if p.is_file()]
    assert any(p.suffix == ".pt" for p in files) and any(p.suffix == ".log" for p in files)
    for secret in (PASSWORD, *secret_keys):
        assert secret not in text, "a secret was printed"
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"a secret was written to {path}"
