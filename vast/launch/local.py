"""`vast train`: the whole system on one machine as real processes, supervised.

Starts an embedded Redis with persistence (append-only file in the run directory; unless a URL is given),
the replay service, the learner and M actors, each a child process in its own session that dies with this
one; shows live progress from the learner's metrics log; stops on --updates, --minutes, SIGINT or SIGTERM
(handlers installed explicitly, so a parent that ignores SIGINT cannot disable them) in a fixed order:
learner first, so its final checkpoint is written, then actors and replay, then Redis.

Supervision: a crashed actor, replay or Redis is restarted after a backoff (same id, same address, same
data folder); a crashed learner is restarted from its newest checkpoint. Restarts are printed, logged to
`logs/launcher.log` and counted in `vast_launcher_restarts_total{role}`. A process that keeps failing
(`run.max_restarts` within `run.restart_window_s`) ends the run with a message naming it and its last
log lines.
"""

from __future__ import annotations

import copy
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from vast.common import rundir
from vast.common.config import Config, ConfigError, redact_url
from vast.common.embedded_redis import EmbeddedRedis
from vast.common.lifecycle import StopFlag, die_with_parent
from vast.common.metrics import RoleMetrics
from vast.common.ports import free_port
from vast.common.store import RunStore, check_reachable, connect
from vast.launch.progress import TrainingProgress, describe, report
from vast.launch.supervisor import RestartPolicy

REDIS = "redis"


class GiveUp(RuntimeError):
    """A process kept failing: the run cannot go on."""


class LocalCluster:
    """The processes of one local run. Usable from tests as a context manager.

    `learner_done()` also supervises (restarts what crashed), so waiting on it keeps the run alive.
    """

    def __init__(self, cfg: Config, console: Console | None = None):
        self.cfg = cfg
        self.console = console or Console(stderr=True)
        if not cfg.run.name:
            cfg.run.name = rundir.default_run_name(cfg)
        self.run_dir = rundir.run_dir_of(cfg)
        self.created_run_dir = False
        self.redis: EmbeddedRedis | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.policy = RestartPolicy(cfg.run.max_restarts, cfg.run.restart_window_s)
        self.restart_at: dict[str, float] = {}  # name -> when a scheduled restart is due
        self.restarts: dict[str, int] = {}
        self.metrics = RoleMetrics("launcher")
        self.m_restarts = self.metrics.counter(
            "vast_launcher_restarts_total", "Processes restarted after a crash", ("role",)
        )
        self.log = logging.getLogger("vast.launcher")
        self.stopping = False
        self.started_at = time.monotonic()

    # -- start ----------------------------------------------------------------------------------
    def start(self) -> LocalCluster:
        cfg = self.cfg
        check_redis(cfg)  # before anything is created: a wrong URL leaves nothing behind
        self.created_run_dir = not self.run_dir.exists()
        (self.run_dir / rundir.LOGS).mkdir(parents=True, exist_ok=True)
        self._log_to_file()
        saved = copy.deepcopy(cfg)
        if not cfg.redis_url:
            self.redis = EmbeddedRedis(
                self.run_dir / REDIS, appendonly=True, appendfsync=cfg.run.redis_fsync
            ).start(preexec_fn=die_with_parent)
            cfg.redis_url = self.redis.url
            saved.redis_url = ""  # embedded: `vast train --resume` starts it again on the same folder
        self.replay_binds = [f"tcp://127.0.0.1:{free_port()}" for _ in range(cfg.replay.replicas)]
        weights_port = free_port()
        for c in (cfg, saved):
            c.replay.bind = self.replay_binds[0]
            c.actor.replay_addr = ",".join(self.replay_binds)  # every actor reaches every replica
            c.learner.weights_bind = c.actor.weights_addr = f"tcp://127.0.0.1:{weights_port}"
        saved.save(self.run_dir / rundir.CONFIG)  # the Redis password is never written
        self.metrics_url = self.metrics.serve(0, cfg.run.metrics_host)
        for name in self.replay_names():
            self._spawn(name)
        self._spawn("learner")
        for i in range(cfg.actors):
            self._spawn(f"actor-{i}")
        return self

    def _log_to_file(self) -> None:
        handler = logging.FileHandler(self.run_dir / rundir.LOGS / "launcher.log")
        handler.setFormatter(logging.Formatter("%(asctime)s launcher %(levelname)s %(message)s"))
        self.log.addHandler(handler)
        self.log.setLevel(logging.INFO)
        self.log.propagate = False
        self._log_handler = handler

    def replay_names(self) -> list[str]:
        """`replay`, or `replay-0`, `replay-1`, ... with several replicas."""
        n = self.cfg.replay.replicas
        return ["replay"] if n == 1 else [f"replay-{i}" for i in range(n)]

    def _args(self, name: str) -> list[str]:
        if name.startswith("actor-"):
            return ["--actor.id", name.split("-", 1)[1]]
        if name.startswith("replay-"):
            i = int(name.split("-", 1)[1])
            return ["--replay.id", str(i), "--replay.bind", self.replay_binds[i]]
        if name == "learner" and (self.run_dir / rundir.CHECKPOINT).exists():
            return ["--learner.resume", str(self.run_dir)]  # a restart continues from the newest checkpoint
        return []

    def _spawn(self, name: str) -> None:
        role = name.split("-")[0]
        cmd = [sys.executable, "-m", "vast", role, "--config", str(self.run_dir / rundir.CONFIG)]
        cmd += self._args(name)
        log = open(self.run_dir / rundir.LOGS / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        env = {k: v for k, v in os.environ.items() if not k.startswith("VAST_")}  # config.json is the truth
        env["VAST_REDIS_URL"] = self.cfg.redis_url  # ...but for the Redis URL: its password stays off disk
        env["VAST_REDIS_SHARDS"] = self.cfg.redis_shards
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

    def endpoints(self, timeout_s: float = 60.0, stop: StopFlag | None = None) -> dict[str, str]:
        """Metrics URLs of every role, once all announced themselves (bounded wait)."""
        store = RunStore(connect(self.cfg.redis_url), self.cfg.run.name)
        want = self.cfg.replay.replicas + 1 + self.cfg.actors
        end = time.monotonic() + timeout_s
        try:
            while True:
                found = store.endpoints()
                if len(found) >= want or time.monotonic() > end or (stop is not None and stop.is_set()):
                    return found
                self.supervise()
                time.sleep(0.1)
        finally:
            store.r.close()

    # -- supervise ------------------------------------------------------------------------------
    def log_tail(self, name: str, chars: int = 2000) -> str:
        path = self.run_dir / (f"{REDIS}/redis.log" if name == REDIS else f"{rundir.LOGS}/{name}.log")
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def supervise(self) -> None:
        """Restart what crashed (after its backoff); raise GiveUp if a process keeps failing."""
        if self.stopping:
            return
        now = time.monotonic()
        if self.redis is not None and not self.redis.alive() and REDIS not in self.restart_at:
            self._failed(REDIS, self.redis.proc.returncode, now)
        for name, proc in list(self.procs.items()):
            code = proc.poll()
            if code is None or name in self.restart_at or (name == "learner" and code == 0):
                continue
            self._failed(name, code, now)
        for name, due in list(self.restart_at.items()):
            if now >= due:
                del self.restart_at[name]
                self._restart(name)

    def _failed(self, name: str, code: int | None, now: float) -> None:
        delay = self.policy.on_failure(name, now)
        if delay is None:
            raise GiveUp(
                f"{name} keeps failing: exited with code {code}, {self.policy.recent(name)} failures within "
                f"{self.cfg.run.restart_window_s:.0f}s; last log lines of {name}:\n{self.log_tail(name)}"
            )
        message = f"{name} exited with code {code}: restarting it in {delay:.1f}s"
        self.console.print(f"[yellow]{escape(message)}[/]", soft_wrap=True)
        self.log.warning(message)
        self.restart_at[name] = now + delay

    def _restart(self, name: str) -> None:
        self.restarts[name] = self.restarts.get(name, 0) + 1
        self.m_restarts.labels(name.split("-")[0]).inc()
        if name == REDIS:
            self.redis.start()  # same port, same folder: the append-only file brings the data back
        else:
            self._spawn(name)
        message = f"restarted {name} (restart {self.restarts[name]})"
        self.console.print(f"[yellow]{escape(message)}[/]", soft_wrap=True)
        self.log.warning(message)

    def check_children(self) -> None:
        """Raise if a role other than a finished learner has exited (tests: nobody crashed)."""
        for name, proc in self.procs.items():
            code = proc.poll()
            if code is not None and not (name == "learner" and code == 0):
                raise RuntimeError(f"{name} exited with code {code}; last log lines:\n{self.log_tail(name)}")

    def learner_done(self) -> bool:
        """Supervise once; True when the learner has finished (exit code 0)."""
        self.supervise()
        learner = self.procs["learner"]
        return learner.poll() == 0 and "learner" not in self.restart_at

    # -- stop -----------------------------------------------------------------------------------
    def stop(self, learner_grace_s: float = 120.0, grace_s: float = 15.0, keep_redis: bool = False) -> None:
        """Stop every process in order; `keep_redis` leaves the embedded Redis up (to inspect the run)."""
        self.stopping = True
        self.restart_at.clear()
        learner = self.procs.get("learner")
        if learner is not None and learner.poll() is None:
            self.log.info("stopping the learner")
            learner.send_signal(signal.SIGTERM)
            try:
                learner.wait(learner_grace_s)
            except subprocess.TimeoutExpired:
                learner.kill()
        others = [p for n, p in self.procs.items() if n != "learner" and p.poll() is None]
        self.log.info("stopping %d actors and replay", len(others))
        for proc in others:
            proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + grace_s
        for proc in others:
            try:
                proc.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if keep_redis:
            return
        if self.redis is not None and self.redis.alive():
            self.log.info("stopping Redis")
            self.redis.stop()
        self.metrics.close()
        if getattr(self, "_log_handler", None) is not None:
            self.log.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def discard_if_empty(self) -> bool:
        return rundir.discard_if_empty(self.run_dir, self.created_run_dir)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def check_redis(cfg: Config) -> None:
    """Given Redis URLs (and shards) must answer now: else one clear ConfigError (never the password)."""
    for url in [cfg.redis_url, *cfg.shard_urls()] if cfg.redis_url else []:
        try:
            check_reachable(url)
        except ConnectionError as exc:
            raise ConfigError(str(exc)) from None


def train(cfg: Config, progress: bool = True) -> int:
    """Run a local training job to completion; returns a process exit code."""
    check_redis(cfg)
    console = Console(stderr=True)
    stop = StopFlag().install_signal_handlers()  # SIGINT and SIGTERM, even if inherited as ignored
    cluster = LocalCluster(cfg, console)
    console.print(describe(cfg, f"{cfg.actors} actor processes"))
    console.print(f"run directory: {cluster.run_dir}")
    failed = None
    try:
        cluster.start()
        console.print(f"redis: {redact_url(cfg.redis_url)}" + ("  (embedded)" if cluster.redis else ""))
        console.print(f"metrics   launcher: {cluster.metrics_url}")
        for role, url in sorted(cluster.endpoints(stop=stop).items()):
            console.print(f"metrics {role:>10}: {url}")
        _follow(cluster, console, progress, stop)
    except ConfigError:
        cluster.stop()
        cluster.discard_if_empty()
        raise
    except (GiveUp, RuntimeError, OSError) as exc:
        failed = exc
    if stop.is_set():
        console.print(
            f"{stop.reason}: stopping the learner (final checkpoint), then actors, replay and Redis"
        )
    cluster.stop()
    if failed is not None:
        console.print(f"[red]error:[/] {escape(str(failed))}", soft_wrap=True)
        cluster.discard_if_empty()
        return 1
    report(cluster.run_dir, console)
    return stop.exit_code()


def _follow(cluster: LocalCluster, console: Console, progress: bool, stop: StopFlag) -> None:
    """Show the learner's metrics rows as they appear, until the learner finishes or a stop signal."""
    metrics_path = cluster.run_dir / rundir.METRICS
    seen = 0
    with TrainingProgress(cluster.cfg, console, enabled=progress) as bar:
        while not stop.is_set():
            finished = cluster.learner_done()
            rows = rundir.read_rows(metrics_path)
            for row in rows[seen:]:
                bar.show(row)
            seen = len(rows)
            if finished:
                break
            stop.wait(0.5)


def resume_config_file(run_dir: str | Path) -> Path:
    """The saved config of a run to resume, or a ConfigError saying why there is none."""
    path = Path(run_dir) / rundir.CONFIG
    if not path.is_file():
        raise ConfigError(f"cannot resume {run_dir}: no {rundir.CONFIG} there (not a run directory)")
    return path
