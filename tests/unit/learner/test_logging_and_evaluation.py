"""The trainer's optional loggers (TensorBoard, W&B offline) and its greedy evaluation."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from tests.helpers import serial_trainer
from vast.common import rundir
from vast.common.config import ConfigError
from vast.common.lifecycle import StopFlag
from vast.learner import loggers

BASE = {"env.name": "gaussian-squeeze-20", "run.updates": "3", "learner.eval_episodes": "3"}


def _deterministic(rows):
    return [{k: v for k, v in r.items() if k != "wall_s" and not k.startswith("time_")} for r in rows]


def test_tensorboard_event_files_hold_every_numeric_metric(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    serial_trainer(tmp_path, **BASE, **{"log.tensorboard": "true"}).run(StopFlag())
    rows = rundir.read_rows(tmp_path / rundir.METRICS)
    events = EventAccumulator(str(tmp_path / loggers.TENSORBOARD_DIR))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"eval_metric", "eval_greedy_metric", "loss/critic", "diversity"} <= tags
    assert "from_actors" not in tags
    critic = events.Scalars("loss/critic")
    assert [e.step for e in critic] == [1, 2, 3]
    assert [e.value for e in critic] == pytest.approx([r["loss/critic"] for r in rows], rel=1e-6)


def _wandb_records(path: Path) -> list[bytes]:
    """The records of a .wandb file: a 7-byte header, then LevelDB-log blocks of 32 KiB whose records
    carry a 7-byte header (crc32c, length, type: 1 full, 2 first, 3 middle, 4 last)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pending, pos, block = [], b"", 7, 32768
    while pos + 7 <= len(data):
        room = block - pos % block
        if room < 7:  # block trailer
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            pos += room
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            records.append(pending)
    return records


def test_wandb_offline_writes_a_run_without_network(tmp_path, monkeypatch):
    from wandb.proto import wandb_internal_pb2

    monkeypatch.setenv("WANDB_SILENT", "true")
    serial_trainer(tmp_path, **BASE, **{"log.wandb": "true", "run.name": "wandb-test"}).run(StopFlag())
    files = list((tmp_path / loggers.WANDB_DIR).glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    history = []
    for raw in _wandb_records(files[0]):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        if record.WhichOneof("record_type") == "history":
            history.append(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.history.item
                }
            )
        if record.WhichOneof("record_type") == "run":
            assert record.run.display_name == "wandb-test"
    rows = rundir.read_rows(tmp_path / rundir.METRICS)
    assert [h["_step"] for h in history] == [1, 2, 3]
    assert [h["eval_metric"] for h in history] == pytest.approx([r["eval_metric"] for r in rows])


def test_a_missing_logging_package_is_a_clear_configuration_error():
    with pytest.raises(ConfigError, match=r"needs the 'no_such_pkg' package.*pip install 'vast\[logging\]'"):
        loggers.require("no_such_pkg", "--log.something")


def test_greedy_evaluation_is_recorded_apart_and_changes_no_training_number(tmp_path):
    serial_trainer(tmp_path / "on", **BASE).run(StopFlag())
    serial_trainer(tmp_path / "off", **BASE, **{"learner.eval_greedy": "false"}).run(StopFlag())
    on = _deterministic(rundir.read_rows(tmp_path / "on" / rundir.METRICS))
    off = _deterministic(rundir.read_rows(tmp_path / "off" / rundir.METRICS))
    assert all(isinstance(r["eval_greedy_metric"], float) for r in on)
    assert all("eval_greedy_metric" not in r for r in off)
    assert [{k: v for k, v in r.items() if not k.startswith("eval_greedy")} for r in on] == off
    assert any(r["eval_greedy_metric"] != r["eval_metric"] for r in on)
    assert all(r["eval_env_steps"] == r["eval_greedy_env_steps"] == 3 for r in on)  # one-step episodes
