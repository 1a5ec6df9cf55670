"""`vast train --serial`: the whole run in this process, with no Redis and no ZeroMQ.

The trainer reads episodes that `LocalEpisodeSource` plays in-process with the actors' own code, seeds
and work slots, so a sync run gives the same metrics rows as the multi-process run with the same config.
"""

from __future__ import annotations

from rich.console import Console

from vast.common import logs, rundir
from vast.common.config import Config, ConfigError, learner_threads
from vast.common.lifecycle import StopFlag
from vast.launch.progress import TrainingProgress, describe, report


def prepare_run_dir(cfg: Config):
    """The run directory with the resolved config saved in it (the run name must be set)."""
    run_dir = rundir.run_dir_of(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(run_dir / rundir.CONFIG)
    return run_dir


def train_serial(cfg: Config, run_dir=None, progress: bool = True, console: Console | None = None) -> int:
    """Train in this process; `run_dir` defaults to the config's (created and the config saved in it)."""
    created = run_dir is None and not rundir.run_dir_of(cfg).exists()
    run_dir = run_dir if run_dir is not None else prepare_run_dir(cfg)
    import torch

    from vast.learner.local_source import LocalEpisodeSource
    from vast.learner.trainer import Trainer

    console = console or Console(stderr=True)
    torch.set_num_threads(learner_threads(cfg))
    log = logs.setup("serial", stream_path=run_dir / rundir.LOGS / "serial.log")
    stop = StopFlag().install_signal_handlers()
    source = LocalEpisodeSource(cfg, cfg.env.spec())
    try:  # before anything is printed: a bad --learner.resume is one line and leaves nothing behind
        trainer = Trainer(cfg, source, source, run_dir, log=log)
    except ConfigError:
        rundir.discard_if_empty(run_dir, created)
        raise
    console.print(describe(cfg, "serial (one process)"))
    console.print(f"run directory: {run_dir}")
    with TrainingProgress(cfg, console, enabled=progress) as bar:
        trainer.run(stop, on_row=bar.show)
    report(run_dir, console)
    return stop.exit_code()
