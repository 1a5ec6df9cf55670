"""Checkpoints, written atomically and rotated.

Atomic: the payload goes to a temporary file, is fsynced, renamed over its final name and the folder is
fsynced, so a crash at any moment leaves either the old file or the new one, never a torn one. Rotated:
each checkpoint is `checkpoints/update-NNNNNNNN.pt`, the newest `keep` are kept, and `checkpoint.pt` in
the run directory is a hard link to the newest (what people and tools open). Loading a run directory
takes the newest checkpoint that loads, so even a damaged file (a full disk, a copied run) costs one
checkpoint interval, not the run.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from vast.common import rundir

FOLDER = "checkpoints"
_PREFIX = "update-"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, payload: dict[str, Any]) -> None:
    """torch.save to `path` so that a crash never leaves a partial file under that name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def save(run_dir: Path, updates: int, payload: dict[str, Any], keep: int) -> Path:
    """Write the checkpoint of update `updates`, point `checkpoint.pt` at it, delete all but the newest
    `keep`; returns its path."""
    run_dir = Path(run_dir)
    path = run_dir / FOLDER / f"{_PREFIX}{updates:08d}.pt"
    write_atomic(path, payload)
    latest = run_dir / rundir.CHECKPOINT
    tmp = latest.with_name(latest.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:  # a file system without hard links: a copy, still renamed into place atomically
        shutil.copyfile(path, tmp)
    os.replace(tmp, latest)
    _fsync_dir(run_dir)
    for old in candidates(run_dir)[keep:]:
        old.unlink(missing_ok=True)
    return path


def candidates(run_dir: Path) -> list[Path]:
    """The rotated checkpoints of a run directory, newest first."""
    return sorted((Path(run_dir) / FOLDER).glob(f"{_PREFIX}*.pt"), reverse=True)


def load(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    return torch.load(path, map_location=device, weights_only=False)


def load_latest(
    where: str | Path, device: torch.device | str = "cpu", log: logging.Logger | None = None
) -> tuple[Path, dict[str, Any]] | None:
    """(path, payload) of a checkpoint file, or of the newest loadable checkpoint of a run directory;
    None if the directory has none. A file that does not exist raises FileNotFoundError."""
    where = Path(where)
    if not where.is_dir():
        if not where.exists():
            raise FileNotFoundError(f"no checkpoint at {where}")
        return where, load(where, device)
    paths = candidates(where) + [where / rundir.CHECKPOINT]
    for path in paths:
        if not path.exists():
            continue
        try:
            return path, load(path, device)
        except Exception as exc:  # a damaged file: fall back to the one before
            (log or logging.getLogger("vast.learner")).error("cannot load checkpoint %s: %s", path, exc)
    return None
