"""Optional sinks for the trainer's metrics rows besides metrics.jsonl: TensorBoard and Weights & Biases.

Why optional: metrics.jsonl is the record every vast tool reads; these two exist because people
already watch their runs there. Neither package is part of the core install (`pip install
'vast[logging]'`); each is imported only when its `log.*` switch is on, and a missing package is a
clear configuration error before training starts. W&B defaults to offline mode: it writes
RUN_DIR/wandb and never needs the network (`wandb sync` uploads later).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Protocol

from vast.common.config import Config, ConfigError

TENSORBOARD_DIR = "tensorboard"
WANDB_DIR = "wandb"
EXTRA_HINT = "pip install 'vast[logging]'"


class RowLogger(Protocol):
    def log(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """The numeric fields of a metrics row (lists, strings and missing evaluations left out)."""
    return {
        key: float(value)
        for key, value in row.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def require(package: str, switch: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise ConfigError(f"{switch} needs the '{package}' package, which is not installed: {EXTRA_HINT}")


class TensorBoardLogger:
    """Every numeric field as a scalar at step = update (tags as in metrics.jsonl, e.g. loss/critic)."""

    def __init__(self, run_dir: Path):
        require("tensorboard", "--log.tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(run_dir) / TENSORBOARD_DIR))

    def log(self, row: dict[str, Any]) -> None:
        step = int(row["update"])
        for key, value in scalars(row).items():
            if key != "update":
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    """One W&B run per vast run (name = run name, config = the resolved config), step = update."""

    def __init__(self, cfg: Config, run_dir: Path):
        require("wandb", "--log.wandb")
        import wandb

        self.run = wandb.init(
            project=cfg.log.wandb_project,
            name=cfg.run.name,
            dir=str(run_dir),
            mode=cfg.log.wandb_mode,
            config=cfg.to_dict(),
            settings=wandb.Settings(console="off", silent=True),
        )

    def log(self, row: dict[str, Any]) -> None:
        self.run.log(scalars(row), step=int(row["update"]))

    def close(self) -> None:
        self.run.finish()


def make_loggers(cfg: Config, run_dir: Path) -> list[RowLogger]:
    """The loggers `cfg.log` switches on (none by default)."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    loggers: list[RowLogger] = []
    if cfg.log.tensorboard:
        loggers.append(TensorBoardLogger(run_dir))
    if cfg.log.wandb:
        (Path(run_dir) / WANDB_DIR).mkdir(exist_ok=True)
        loggers.append(WandbLogger(cfg, run_dir))
    return loggers


def check_available(cfg: Config) -> None:
    """Fail early (before processes start) if a switched-on logger's package is missing."""
    if cfg.log.tensorboard:
        require("tensorboard", "--log.tensorboard")
    if cfg.log.wandb:
        require("wandb", "--log.wandb")
