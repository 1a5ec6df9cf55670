"""`vast train`: the whole system on one machine as real processes.

Starts an embedded Redis (unless a URL is given), the replay service, the learner and M actors, each
a child process in its own session that dies with this one; shows live progress from the learner's
metrics log; stops on --updates, --minutes or Ctrl-C in a fixed order (learner first, so its final
checkpoint is written, then actors and replay, then Redis), leaving nothing running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from rich.console import Console

from vast.common import rundir
from vast.common.config import Config
from vast.common.embedded_redis import EmbeddedRedis, free_port
from vast.common.lifecycle import die_with_parent
from vast.common.store import RunStore, connect
from vast.launch.progress import TrainingProgress, describe, report


class LocalCluster:
    """The processes of one local run. Usable from tests as a context manager."""

    def __init__(self, cfg: Config, console: Console | None = None):
        self.cfg = cfg
        self.console = console or Console(stderr=True)
        if not cfg.run.name:
            cfg.run.name = rundir.default_run_name(cfg)
        self.run_dir = rundir.run_dir_of(cfg)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / rundir.LOGS).mkdir(exist_ok=True)
        self.redis: EmbeddedRedis | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.started_at = time.monotonic()

    # -- start ----------------------------------------------------------------------------------
    def start(self) -> LocalCluster:
        cfg = self.cfg
        if not cfg.redis_url:
            self.redis = EmbeddedRedis(self.run_dir / "redis").start(preexec_fn=die_with_parent)
            cfg.redis_url = self.redis.url
        replay_port, weights_port = free_port(), free_port()
        cfg.replay.bind = cfg.actor.replay_addr = f"tcp://127.0.0.1:{replay_port}"
        cfg.learner.weights_bind = cfg.actor.weights_addr = f"tcp://127.0.0.1:{weights_port}"
        cfg.save(self.run_dir / rundir.CONFIG)
        self._spawn("replay", [])
        self._spawn("learner", [])
        for i in range(cfg.actors):
            self._spawn(f"actor-{i}", ["--actor.id", str(i)])
        return self

    def _spawn(self, name: str, extra: list[str]) -> None:
        role = name.split("-")[0]
        cmd = [
            sys.executable,
            "-m",
            "vast",
            role,
            "--config",
            str(self.run_dir / rundir.CONFIG),
            *extra,
        ]
        log = open(self.run_dir / rundir.LOGS / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAST_")}  # config.json is the truth
        env["PYTHONUNBUFFERED"] = "1"
        self.procs[name] = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.close()

    def endpoints(self, timeout_s: float = 60.0) -> dict[str, str]:
        """Metrics URLs of every role, once all announced themselves (bounded wait)."""
        store = RunStore(connect(self.cfg.redis_url), self.cfg.run.name)
        want = 2 + self.cfg.actors
        end = time.monotonic() + timeout_s
        while True:
            found = store.endpoints()
            if len(found) >= want or time.monotonic() > end:
                store.r.close()
                return found
            self.check_children()
            time.sleep(0.1)

    # -- supervise ------------------------------------------------------------------------------
    def check_children(self) -> None:
        """Raise if a role other than a finished learner has exited."""
        for name, proc in self.procs.items():
            code = proc.poll()
            if code is not None and not (name == "learner" and code == 0):
                tail = (self.run_dir / rundir.LOGS / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with code {code}; last log lines:\n{tail}")

    def learner_done(self) -> bool:
        return self.procs["learner"].poll() is not None

    # -- stop -----------------------------------------------------------------------------------
    def stop(self, learner_grace_s: float = 120.0, grace_s: float = 15.0) -> None:
        learner = self.procs.get("learner")
        if learner is not None and learner.poll() is None:
            learner.send_signal(signal.SIGTERM)
            try:
                learner.wait(learner_grace_s)
            except subprocess.TimeoutExpired:
                learner.kill()
        others = [p for n, p in self.procs.items() if n != "learner" and p.poll() is None]
        for proc in others:
            proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + grace_s
        for proc in others:
            try:
                proc.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self.redis is not None:
            self.redis.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def train(cfg: Config, progress: bool = True) -> int:
    """Run a local training job to completion; returns a process exit code."""
    console = Console(stderr=True)
    cluster = LocalCluster(cfg, console)
    console.print(describe(cfg, f"{cfg.actors} actor processes"))
    console.print(f"run directory: {cluster.run_dir}")
    interrupted = False
    try:
        cluster.start()
        console.print(f"redis: {cfg.redis_url}" + ("  (embedded)" if cluster.redis else ""))
        for role, url in sorted(cluster.endpoints().items()):
            console.print(f"metrics {role:>10}: {url}")
        _follow(cluster, console, progress)
    except KeyboardInterrupt:
        interrupted = True
        console.print("interrupted: stopping the learner (final checkpoint), then actors, replay and Redis")
    except RuntimeError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1  # the finally block below stops everything
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the orderly stop
        cluster.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    report(cluster.run_dir, console)
    return 130 if interrupted else 0


def _follow(cluster: LocalCluster, console: Console, progress: bool) -> None:
    """Show the learner's metrics rows as they appear, until the learner exits."""
    metrics_path = cluster.run_dir / rundir.METRICS
    seen = 0
    with TrainingProgress(cluster.cfg, console, enabled=progress) as bar:
        while True:
            finished = cluster.learner_done()
            rows = rundir.read_rows(metrics_path)
            for row in rows[seen:]:
                bar.show(row)
            seen = len(rows)
            if finished:
                break
            cluster.check_children()
            time.sleep(0.5)
    if cluster.procs["learner"].returncode != 0:
        cluster.check_children()
