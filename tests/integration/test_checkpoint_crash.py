"""Checkpoints survive a crash in the middle of writing one: a process writing rotated checkpoints is
killed (SIGKILL) while its temporary file is half written, again and again. Every checkpoint left behind
loads, `checkpoint.pt` loads, and the newest is exactly the last one completed."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import wait_until
from vast.common import rundir
from vast.learner import checkpoint

ROOT = Path(__file__).resolve().parents[2]
WRITER = """
import sys, torch
from vast.learner import checkpoint
run_dir, update = sys.argv[1], int(sys.argv[2])
while True:
    checkpoint.save(run_dir, update, {"updates": update, "blob": torch.full((4_000_000,), float(update))}, keep=3)
    print(update, flush=True)
    update += 1
"""


def _writing(folder: Path, more_than: float) -> bool:
    """A temporary checkpoint file of more than `more_than` bytes exists (one is being written)."""
    for path in folder.glob("*.tmp"):
        try:
            if path.stat().st_size > more_than:
                return True
        except FileNotFoundError:  # renamed into place meanwhile
            continue
    return False


@pytest.mark.timeout(180)
def test_killing_the_writer_mid_write_never_leaves_a_torn_checkpoint(tmp_path):
    rng = random.Random(3)
    completed = 0
    tmp_file = tmp_path / checkpoint.FOLDER
    for _ in range(5):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(completed + 1)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert writer.stdout.readline().strip() == str(completed + 1)  # one complete checkpoint...
            completed += 1
            threshold = rng.uniform(0.1, 0.9) * 16_000_000
            wait_until(lambda t=threshold: _writing(tmp_file, t), 60, "a checkpoint half written")
        finally:
            writer.kill()
            out, _ = writer.communicate()
        completed += len(out.split())  # any it finished between the check and the kill
        path, payload = checkpoint.load_latest(tmp_path)
        assert payload["updates"] == completed, (path, completed)
        assert torch.equal(payload["blob"], torch.full((4_000_000,), float(completed)))
        for kept in checkpoint.candidates(tmp_path):
            checkpoint.load(kept)  # none is torn
        assert checkpoint.load(tmp_path / rundir.CHECKPOINT)["updates"] == completed
    assert len(checkpoint.candidates(tmp_path)) == 3 and completed >= 5
