"""End-to-end training: a real `vast train` run (processes, or `--serial`), measured from outside.

The run uses the reference's protocol (one sync update per 10 episodes, 10 stochastic evaluation
episodes after every update, no greedy evaluation), so its agent-steps per second, counted with the
evaluation episodes, compare directly with the authors' code. The first update (start-up, numba
compilation) is left out. While it runs, every process of the run (learner, replay, actors, Redis; or
the one serial process) is sampled for resident memory and CPU time: CPU-seconds per update by role
say where the machine's time goes, and the memory samples whether any role grows with run length.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from vast.bench.learner import METHODS
from vast.common.config import Config, resolve
from vast.common.rundir import METRICS, read_rows

TOPOLOGIES = ("processes", "serial")
CLOCK_TICKS = 100  # /proc/<pid>/stat CPU times are in clock ticks (USER_HZ, 100 on Linux)
PROTOCOL = {  # the reference's: 10 episodes -> one update -> 10 stochastic evaluation episodes
    "learner.episodes_per_update": 10,
    "learner.eval_every": 1,
    "learner.eval_episodes": 10,
    "learner.eval_greedy": False,
    "learner.checkpoint_every": 0,
}


def algo_overrides(method: str) -> dict:
    cfg = METHODS[method]
    return {f"algo.{k}": v for k, v in asdict(cfg).items() if k in ("algo", "mixer", "assign", "eta")}


def proc_sample(pid: int) -> tuple[int, float] | None:
    """(resident bytes, CPU seconds) of a live process; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rss = next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return rss, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


class Sampler:
    """Samples memory and CPU time of named processes every `interval_s` on a thread."""

    def __init__(self, interval_s: float = 0.25):
        self.interval_s = interval_s
        self.pids: dict[str, int] = {}
        self.series: dict[str, list[tuple[float, int, float]]] = {}  # name -> (t, rss, cpu)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-sampler")

    def start(self, pids: dict[str, int]) -> Sampler:
        self.pids = dict(pids)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for name, pid in self.pids.items():
                sample = proc_sample(pid)
                if sample is not None:
                    self.series.setdefault(name, []).append((now, *sample))
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def cpu_between(self, name: str, t0: float, t1: float) -> float:
        points = [(t, cpu) for t, _, cpu in self.series.get(name, []) if t0 <= t <= t1]
        return points[-1][1] - points[0][1] if len(points) >= 2 else 0.0

    def memory(self, name: str, t0: float, t1: float) -> dict:
        """Peak RSS, and the peak of the last third of [t0, t1] against the first third's."""
        points = [(t, rss) for t, rss, _ in self.series.get(name, []) if t0 <= t <= t1]
        if not points:
            return {"peak_GB": 0.0, "growth": 0.0}
        third = (t1 - t0) / 3
        first = max((r for t, r in points if t <= t0 + third), default=points[0][1])
        last = max((r for t, r in points if t >= t1 - third), default=points[-1][1])
        return {
            "peak_GB": max(r for _, r in points) / 2**30,
            "growth": last / max(first, 1) - 1,
            "grown_MB": (last - first) / 2**20,
        }


def _config(env: str, method: str, workdir: Path, updates: int, seconds: float, extra: dict) -> Config:
    return resolve(
        None,
        {
            "run.dir": str(workdir),
            "run.name": "bench",
            "env.name": env,
            "run.updates": updates,
            "run.minutes": 0,  # the bench stops the run: `seconds` count from the first update
            **PROTOCOL,
            **algo_overrides(method),
            **extra,
        },
        environ={},
    )


def run_training(
    env: str,
    method: str,
    topology: str = "processes",
    updates: int = 20,
    seconds: float = 120.0,
    actors: int = 0,
    threads: int = 1,
    extra: dict | None = None,
) -> dict:
    """Train `updates` updates, or for `seconds` after the first update (start-up, numba compilation and
    the first batch can take minutes at large N on a loaded machine; they are not part of the budget),
    measured from the second update to the last. A run is stopped only once it has two updates."""
    extra = {"actors": actors, "learner.torch_threads": threads, **(extra or {})}
    with tempfile.TemporaryDirectory(prefix="vast-bench-") as tmp:
        workdir = Path(tmp)
        cfg = _config(env, method, workdir, updates, seconds, extra)
        metrics = workdir / "bench" / METRICS
        marks: list[tuple[int, float]] = []  # (rows seen, monotonic time) while polling
        if topology == "processes":
            result = _run_processes(cfg, metrics, marks, seconds)
        elif topology == "serial":
            result = _run_serial(cfg, workdir, metrics, marks, seconds)
        else:
            raise ValueError(f"topology must be one of {TOPOLOGIES}")
        sampler, rows = result
    return summarise(env, method, topology, cfg, rows, marks, sampler)


START_LIMIT_S = 900.0  # the first update must come within this; then two at least, whatever `seconds`


def _follow(metrics: Path, marks: list, done, seconds: float) -> None:
    """Poll the metrics file until the run is done, or `seconds` after its first update once it has two."""
    start = time.monotonic()
    first = None
    while not done():
        now = time.monotonic()
        count = len(read_rows(metrics))
        marks.append((count, now))
        if count >= 1 and first is None:
            first = now
        if first is None and now - start > START_LIMIT_S:
            break
        if first is not None and now - first >= seconds and (count >= 2 or now - first > START_LIMIT_S):
            break
        time.sleep(0.25)
    marks.append((len(read_rows(metrics)), time.monotonic()))


def _run_processes(cfg: Config, metrics: Path, marks: list, seconds: float):
    from rich.console import Console

    from vast.launch.local import LocalCluster

    cluster = LocalCluster(cfg, Console(file=open("/dev/null", "w"))).start()  # noqa: SIM115
    try:
        pids = {name: proc.pid for name, proc in cluster.procs.items()}
        if cluster.redis is not None and cluster.redis.proc is not None:
            pids["redis"] = cluster.redis.proc.pid
        sampler = Sampler().start(pids)

        def done() -> bool:
            cluster.check_children()
            return cluster.learner_done()

        _follow(metrics, marks, done, seconds)
    finally:
        cluster.stop()
    sampler.stop()
    return sampler, read_rows(metrics)


def _run_serial(cfg: Config, workdir: Path, metrics: Path, marks: list, seconds: float):
    config = workdir / "config.json"
    cfg.save(config)
    cmd = [sys.executable, "-m", "vast", "train", "--serial", "--config", str(config), "--no-progress"]
    log = open(workdir / "serial.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        sampler = Sampler().start({"serial": proc.pid})
        _follow(metrics, marks, lambda: proc.poll() is not None, seconds)
    finally:
        stopped = proc.poll() is None
        if stopped:
            proc.terminate()  # SIGTERM: the trainer ends its update, checkpoints and exits
        proc.wait(180)
        log.close()
    sampler.stop()
    terminated = (-signal.SIGTERM, 128 + signal.SIGTERM)  # killed, or ended cleanly on the signal
    if proc.returncode != 0 and not (stopped and proc.returncode in terminated):
        raise RuntimeError(
            f"{' '.join(cmd)} exited with {proc.returncode}: {(workdir / 'serial.log').read_text()[-2000:]}"
        )
    return sampler, read_rows(metrics)


def _time_of(marks: list[tuple[int, float]], count: int) -> float:
    """When the metrics file first held `count` rows (as polled)."""
    return next((t for n, t in marks if n >= count), marks[-1][1])


def summarise(env, method, topology, cfg: Config, rows, marks, sampler: Sampler) -> dict:
    n = cfg.env.spec().n_agents
    if len(rows) < 2:  # the window needs one update after the first (which holds start-up)
        raise RuntimeError(f"{env} {method} {topology}: only {len(rows)} updates; give it more time")
    first, last = rows[0], rows[-1]  # the window: after the first update, to the last
    window = rows[1:]
    wall = last["wall_s"] - first["wall_s"]
    train_steps = (last["env_steps"] - first["env_steps"]) * n
    eval_steps = sum(r.get("eval_env_steps", 0) for r in window) * n
    t0, t1 = _time_of(marks, 1), _time_of(marks, len(rows))
    updates = len(window)
    roles = sorted(sampler.series)
    cpu = {role: sampler.cpu_between(role, t0, t1) / updates for role in roles}
    memory = {role: sampler.memory(role, t0, t1) for role in roles}

    def median(key: str) -> float:
        values = sorted(r[key] for r in window)
        return values[len(values) // 2]

    return {
        "env": env,
        "N": n,
        "method": method,
        "topology": topology,
        "actors": cfg.actors if topology == "processes" else 0,
        "threads": cfg.learner.torch_threads,
        "updates": updates,
        "episodes_per_update": cfg.learner.episodes_per_update,
        "wall_s": wall,
        "seconds_per_update": wall / updates,
        "agent_steps_per_s": train_steps / wall,
        "with_eval_per_s": (train_steps + eval_steps) / wall,
        "learner_busy": sum(r["time_update_s"] for r in window) / wall,
        "median_s": {k: median(f"time_{k}_s") for k in ("wait", "batch", "update", "publish", "eval")},
        "cpu_s_per_update": cpu,
        "memory": memory,
        "last_eval_metric": last.get("eval_metric"),
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m vast.bench.train ENV METHOD [TOPOLOGY UPDATES SECONDS]`: one run, as JSON."""
    argv = sys.argv[1:] if argv is None else argv
    env, method = argv[0], argv[1]
    topology = argv[2] if len(argv) > 2 else "processes"
    updates = int(argv[3]) if len(argv) > 3 else 20
    seconds = float(argv[4]) if len(argv) > 4 else 120.0
    print(json.dumps(run_training(env, method, topology, updates, seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
