"""Checkpoints: rotated, atomic, loadable after damage, and complete (a resumed run continues exactly)."""

from __future__ import annotations

import os

import pytest
import torch

from tests.helpers import serial_trainer
from vast.common import rundir
from vast.common.lifecycle import StopFlag
from vast.learner import checkpoint


def test_checkpoints_rotate_and_checkpoint_pt_is_the_newest(tmp_path):
    for update in range(1, 6):
        checkpoint.save(tmp_path, update, {"updates": update, "blob": torch.zeros(100)}, keep=3)
    kept = checkpoint.candidates(tmp_path)
    assert [p.name for p in kept] == ["update-00000005.pt", "update-00000004.pt", "update-00000003.pt"]
    assert os.path.samefile(tmp_path / rundir.CHECKPOINT, kept[0])
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
    for update in (1, 2):
        checkpoint.save(tmp_path, update, {"updates": update}, keep=3)
    newest = checkpoint.candidates(tmp_path)[0]
    newest.write_bytes(newest.read_bytes()[:10])  # e.g. a disk that filled up while copying the run
    path, payload = checkpoint.load_latest(tmp_path)
    assert payload["updates"] == 1 and path.name == "update-00000001.pt"
    (tmp_path / "empty-run").mkdir()
    assert checkpoint.load_latest(tmp_path / "empty-run") is None
    with pytest.raises(FileNotFoundError):
        checkpoint.load_latest(tmp_path / "missing.pt")


def _deterministic(rows):
    return [{k: v for k, v in r.items() if k != "wall_s" and not k.startswith("time_")} for r in rows]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_resuming_in_place_after_a_crash_redoes_the_lost_updates_exactly(tmp_path, mode):
    """A learner that died after update 6 with its newest checkpoint at update 4: resumed in the same run
    directory, it drops the rows of updates 5 and 6, redoes them and continues, and every row equals the
    uninterrupted run's (weights, Adam moments, generators, RNGs and counters all came back)."""
    settings = {"learner.mode": mode, "learner.eval_every": 2, "learner.checkpoint_every": 4, "actors": 3}
    serial_trainer(tmp_path / "straight", **settings, **{"run.updates": 8}).run(StopFlag())
    crashed = tmp_path / "crashed"
    serial_trainer(crashed, **settings, **{"run.updates": 6}).run(StopFlag())
    (crashed / checkpoint.FOLDER / "update-00000006.pt").unlink()  # it died before checkpointing 6
    assert len(rundir.read_rows(crashed / rundir.METRICS)) == 6
    resumed = serial_trainer(crashed, **settings, **{"run.updates": 8, "learner.resume": str(crashed)})
    assert (resumed.version, resumed.updates, resumed.episodes_consumed) == (4, 4, 40)
    assert len(rundir.read_rows(crashed / rundir.METRICS)) == 4
    resumed.run(StopFlag())
    straight = _deterministic(rundir.read_rows(tmp_path / "straight" / rundir.METRICS))
    again = _deterministic(rundir.read_rows(crashed / rundir.METRICS))
    assert [r["update"] for r in again] == list(range(1, 9))
    assert again == straight
