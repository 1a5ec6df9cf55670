"""The files of a run directory, named in one place: what `vast train` writes and every tool reads."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vast.common.config import Config

CONFIG = "config.json"  # the resolved config the run was started with
METRICS = "metrics.jsonl"  # one JSON row per learner update
CHECKPOINT = "checkpoint.pt"  # networks, optimisers, RNG states, counters (written atomically)
CURVE = "learning_curve.png"
SUMMARY = "summary.json"  # written when the learner stops
LOGS = "logs"  # one log file per process (vast train)
KEPT = "kept"  # copies kept every `learner.keep_every` updates, outside the rotation: kept/update-000300.pt


def kept_checkpoint(run_dir: Path, update: int) -> Path:
    return Path(run_dir) / KEPT / f"update-{update:06d}.pt"


def kept_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(update, path) of the kept checkpoint copies, oldest first."""
    found = []
    for path in (Path(run_dir) / KEPT).glob("update-*.pt"):
        try:
            found.append((int(path.stem.split("-")[1]), path))
        except (IndexError, ValueError):
            continue
    return sorted(found)


def default_run_name(cfg: Config) -> str:
    return f"{cfg.env.name}-{cfg.algo.algo}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def run_dir_of(cfg: Config) -> Path:
    return Path(cfg.run.dir) / cfg.run.name


def read_rows(path: Path) -> list[dict]:
    """The metrics rows written so far (a line being written right now is skipped)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def discard_if_empty(run_dir: Path, created: bool) -> bool:
    """Remove a run directory this launch created if no update was made in it (a failed start leaves
    nothing half-made behind)."""
    if created and not read_rows(run_dir / METRICS):
        shutil.rmtree(run_dir, ignore_errors=True)
        return True
    return False
