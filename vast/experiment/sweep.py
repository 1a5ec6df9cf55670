"""Plan a grid of runs (environments × settings × seeds) and run it, several runs at once.

Every run is `vast train --serial` with its own config: the in-process trainer (`Trainer` fed by
`LocalEpisodeSource`), one torch thread, in a worker process of a pool (default: one per core), so a
laptop trains several runs side by side. Layout:

    SWEEP_DIR/sweep.json                       what was asked (mode, labels in order, every run)
    SWEEP_DIR/runs/ENV.SETTING.seedS/          one run directory each: config.json, metrics.jsonl,
                                               checkpoint.pt, summary.json, logs/

Resuming: a run whose summary says it reached its updates is skipped; a run that was stopped or
killed continues from its last checkpoint (`learner.checkpoint_every`, default 100 updates): metrics
rows after the checkpoint are dropped and replayed, and because episodes, evaluations and updates
are seeded by (seed, version), the continued run writes the same rows as an uninterrupted one. A run
without a checkpoint starts from scratch. Asking for more updates than a finished run has extends it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vast.common import rundir
from vast.common.config import Config, ConfigError, from_dict

SWEEP_FILE = "sweep.json"
RUNS = "runs"
# Keys that may differ between a run directory's config and a new request for the same run.
RESUMABLE_KEYS = {("run", "updates"), ("learner", "resume")}


@dataclass
class PlannedRun:
    key: str  # run directory name: ENV.SETTING.seedS
    env: str
    setting: str  # canonical setting
    label: str
    seed: int
    updates: int
    config: dict[str, Any]
    cost: float = 0.0  # rough relative cost, to start the longest runs first

    @property
    def run_dir(self) -> Path:
        return Path(self.config["run"]["dir"]) / self.config["run"]["name"]


@dataclass
class Plan:
    sweep_dir: Path
    mode: str
    preset: str
    metric: str
    focus: str
    runs: list[PlannedRun] = field(default_factory=list)

    def labels(self) -> list[str]:
        return list(dict.fromkeys(r.label for r in self.runs))


def run_config(env: str, setting, label: str, seed: int, updates: int, sweep_dir: Path) -> Config:
    """The full config of one run of the grid (validated); `--set` keys are part of `setting`."""
    cfg = Config()
    cfg.env.name = env
    setting.apply(cfg)
    cfg.run.seed = seed
    cfg.run.updates = updates
    cfg.run.minutes = 0.0
    cfg.run.serial = True
    cfg.run.label = label
    cfg.run.dir = str(Path(sweep_dir) / RUNS)
    cfg.run.name = f"{env}.{setting.slug()}.seed{seed}"
    return cfg.validate()


def estimate_cost(cfg: Config) -> float:
    """Relative cost of a run: agent-steps it simulates (training and evaluation) per update × updates."""
    spec = cfg.env.spec()
    episodes = cfg.learner.episodes_per_update
    if cfg.learner.eval_every:
        evals = cfg.learner.eval_episodes * (2 if cfg.learner.eval_greedy else 1)
        episodes += evals / cfg.learner.eval_every
    return float(cfg.run.updates * episodes * spec.episode_limit * spec.n_agents)


# -- state of a run directory -------------------------------------------------------------------------
def with_current_defaults(saved: dict[str, Any]) -> dict[str, Any]:
    """`saved` with every key it lacks filled in from today's defaults (a copy)."""
    merged = {}
    for name, default in Config().to_dict().items():
        value = saved.get(name, default)
        merged[name] = (
            {**default, **value} if isinstance(default, dict) and isinstance(value, dict) else value
        )
    for name, value in saved.items():  # keys vast no longer has stay, and still count as differences
        merged.setdefault(name, value)
    return merged


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Keys (section.field) whose values differ, ignoring those a resume may change.

    A key the saved config lacks was added to vast after that run was made: it counts as its default
    (new keys keep the old behaviour at their defaults), so upgrading vast does not orphan finished runs."""
    old = with_current_defaults(old)
    diffs = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section), new.get(section)
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if (section, key) not in RESUMABLE_KEYS and a.get(key) != b.get(key):
                    diffs.append(f"{section}.{key}: {a.get(key)!r} -> {b.get(key)!r}")
        elif a != b:
            diffs.append(f"{section}: {a!r} -> {b!r}")
    return diffs


def run_state(run: PlannedRun) -> str:
    """'done' (reached its updates), 'resume' (has a checkpoint) or 'fresh'; ConfigError if the
    directory holds a run of a different configuration."""
    path = run.run_dir
    saved = path / rundir.CONFIG
    if saved.exists():
        diffs = config_differences(json.loads(saved.read_text()), run.config)
        if diffs:
            raise ConfigError(
                f"{path} holds a run with another configuration ({'; '.join(diffs[:3])}); "
                "use another sweep directory or delete that run"
            )
    summary = path / rundir.SUMMARY
    if summary.exists():
        done = json.loads(summary.read_text())
        if done.get("stopped_by") == "updates" and done.get("updates", 0) >= run.updates:
            return "done"
    return "resume" if (path / rundir.CHECKPOINT).exists() else "fresh"


def truncate_metrics(path: Path, last_update: int) -> int:
    """Keep the rows up to `last_update` (those after the checkpoint are replayed); returns rows kept."""
    rows = [r for r in rundir.read_rows(path) if r.get("update", 0) <= last_update]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)
    return len(rows)


def clear_run(path: Path) -> None:
    """A run that starts from scratch: drop rows and results of an attempt that left no checkpoint."""
    for name in (rundir.METRICS, rundir.SUMMARY, rundir.CURVE):
        (path / name).unlink(missing_ok=True)


# -- one run, in a worker ----------------------------------------------------------------------------
_progress: Any = None  # multiprocessing queue of (kind, key, ...) messages to the parent
_stop_event: Any = None  # multiprocessing event: the parent asks every run to stop (and checkpoint)


def init_worker(progress, stop_event) -> None:
    """Pool initializer: remember the channels; Ctrl-C is the parent's to handle; die with the parent."""
    global _progress, _stop_event
    _progress, _stop_event = progress, stop_event
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from vast.common.lifecycle import die_with_parent

    die_with_parent(signal.SIGTERM)


def _send(*message) -> None:
    if _progress is not None:
        _progress.put(message)


def execute(run: PlannedRun, stop=None) -> dict[str, Any]:
    """Train one run to its updates (resuming if it can); returns {key, status, ...}. Never raises:
    a failing run is reported with its error and the sweep goes on. `stop`: a StopFlag to obey (in
    a worker, the parent's stop event is relayed instead)."""
    import logging
    import threading

    import torch

    from vast.common.lifecycle import StopFlag
    from vast.learner import checkpoint
    from vast.learner.local_source import LocalEpisodeSource
    from vast.learner.trainer import Trainer

    path = run.run_dir
    handler = None
    try:
        state = run_state(run)
        if state == "done":
            return {"key": run.key, "status": "done", "skipped": True}
        cfg = from_dict(run.config)
        path.mkdir(parents=True, exist_ok=True)
        start = 0
        if state == "resume":
            start = int(checkpoint.load(path / rundir.CHECKPOINT)["updates"])
            truncate_metrics(path / rundir.METRICS, start)
            cfg.learner.resume = str(path / rundir.CHECKPOINT)
        else:
            clear_run(path)
        (path / rundir.SUMMARY).unlink(missing_ok=True)
        run_cfg = from_dict(run.config)  # what config.json records: no resume path, the full budget
        run_cfg.save(path / rundir.CONFIG)
        torch.set_num_threads(max(1, cfg.learner.torch_threads))
        log = logging.getLogger(f"vast.sweep.{run.key}")
        log.propagate = False
        log.setLevel(logging.INFO)
        (path / rundir.LOGS).mkdir(exist_ok=True)
        handler = logging.FileHandler(path / rundir.LOGS / "serial.log")
        handler.setFormatter(logging.Formatter("%(asctime)s serial %(levelname)s %(message)s"))
        log.addHandler(handler)
        stop = stop or StopFlag()
        if _stop_event is not None:
            threading.Thread(target=_relay_stop, args=(stop,), daemon=True).start()
        source = LocalEpisodeSource(cfg, cfg.env.spec())
        trainer = Trainer(cfg, source, source, path, log=log)
        _send("start", run.key, start)
        summary = trainer.run(
            stop, on_row=lambda row: _send("row", run.key, row["update"], row["eval_metric"])
        )
        status = "done" if summary["stopped_by"] == "updates" else "stopped"
        return {"key": run.key, "status": status, "resumed_from": start if state == "resume" else None}
    except Exception as exc:  # one broken run must not end the sweep
        path.mkdir(parents=True, exist_ok=True)
        (path / "error.txt").write_text(traceback.format_exc())
        return {"key": run.key, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    finally:
        if handler is not None:
            handler.close()
            logging.getLogger(f"vast.sweep.{run.key}").removeHandler(handler)


def _relay_stop(stop) -> None:
    while not stop.is_set():
        if _stop_event.wait(0.5):
            stop.set("sweep stopped")
            return


# -- the sweep --------------------------------------------------------------------------------------
def write_sweep_file(plan: Plan) -> None:
    """sweep.json: merged with an earlier one, so several invocations into one directory add up."""
    path = plan.sweep_dir / SWEEP_FILE
    old = json.loads(path.read_text()) if path.exists() else {}
    runs = {r["key"]: r for r in old.get("runs", [])}
    for r in plan.runs:
        runs[r.key] = {
            "key": r.key,
            "env": r.env,
            "setting": r.setting,
            "label": r.label,
            "seed": r.seed,
            "updates": r.updates,
        }
    labels = list(dict.fromkeys([*old.get("labels", []), *plan.labels()]))
    data = {
        "preset": plan.preset or old.get("preset", ""),
        "mode": plan.mode or old.get("mode", ""),
        "metric": plan.metric,
        "focus": plan.focus or old.get("focus", ""),
        "labels": labels,
        "runs": list(runs.values()),
    }
    plan.sweep_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def run_sweep(plan: Plan, jobs: int, console, progress: bool = True) -> dict[str, Any]:
    """Run every planned run (longest first), `jobs` at a time; returns counts and failures."""
    from vast.experiment.display import SweepDisplay

    write_sweep_file(plan)
    states = {r.key: run_state(r) for r in plan.runs}
    todo = sorted((r for r in plan.runs if states[r.key] != "done"), key=lambda r: -r.cost)
    result: dict[str, Any] = {"skipped": len(plan.runs) - len(todo), "done": 0, "stopped": 0, "failed": []}
    with SweepDisplay(plan, states, console, enabled=progress) as display:
        if jobs <= 1 or len(todo) <= 1:
            _run_inline(todo, display, result)
        else:
            _run_pool(todo, jobs, display, result)
    return result


def _record(outcome: dict[str, Any], display, result: dict[str, Any]) -> None:
    display.finished(outcome)
    if outcome["status"] == "failed":
        result["failed"].append((outcome["key"], outcome["error"]))
    else:
        result[outcome["status"]] += 1


class _Direct:
    """The progress channel of inline runs: straight to the display."""

    def __init__(self, display):
        self.put = display.message


def _run_inline(todo: list[PlannedRun], display, result: dict[str, Any]) -> None:
    """One run after another in this process (jobs = 1): no worker start-up cost. Ctrl-C stops the
    current run at its next update (it writes its checkpoint), then the sweep."""
    global _progress
    from vast.common.lifecycle import StopFlag

    stop = StopFlag()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set("signal SIGINT"))
    _progress = _Direct(display)
    try:
        for run in todo:
            _record(execute(run, stop), display, result)
            if stop.is_set():
                raise KeyboardInterrupt
    finally:
        _progress = None
        signal.signal(signal.SIGINT, previous)


def _run_pool(todo: list[PlannedRun], jobs: int, display, result: dict[str, Any]) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # no fork of a process whose display thread holds locks
    messages, stop_event = ctx.Queue(), ctx.Event()
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=init_worker, initargs=(messages, stop_event))
    pending = {pool.submit(execute, run) for run in todo}  # submitted from this thread (see init_worker)
    try:
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(messages, display)
            for future in finished:
                _record(future.result(), display, result)
        _drain(messages, display)
    except KeyboardInterrupt:
        display.note("stopping: every running run writes its checkpoint; run the same command to continue")
        stop_event.set()
        for future in pending:
            future.cancel()
        for future in pending:
            if not future.cancelled():
                _record(future.result(), display, result)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _drain(messages, display) -> None:
    while True:
        try:
            display.message(messages.get_nowait())
        except queue.Empty:
            return
