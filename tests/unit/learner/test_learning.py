"""Fixed-seed learning on GaussianSqueeze-200 with the reference protocol, through the trainer loop
in-process: 10 training episodes -> one sync update -> 10 stochastic evaluation episodes."""

from __future__ import annotations

import pytest

from tests.helpers import serial_trainer
from vast.common.lifecycle import StopFlag

TARGET = 380.0  # the optimum is 423.03; a uniform policy scores 1.74
MAX_UPDATES = 300


@pytest.mark.parametrize(
    "method",
    [
        {"algo.algo": "vast", "algo.mixer": "qtran", "algo.assign": "metagrad", "algo.eta": 0.25},
        {"algo.algo": "qtran"},
    ],
    ids=["vast-qtran-metagrad-eta0.25", "qtran"],
)
def test_reaches_380_on_gaussian_squeeze_200(method, tmp_path):
    trainer = serial_trainer(
        tmp_path, **method, **{"env.name": "gaussian-squeeze-200", "run.updates": MAX_UPDATES}
    )
    stop, curve = StopFlag(), []

    def on_row(row):
        curve.append(row["eval_metric"])
        if row["eval_metric"] >= TARGET:
            stop.set("target reached")

    trainer.run(stop, on_row=on_row)
    print(f"{method}: {len(curve)} updates; last evals {curve[-5:]}")
    assert stop.is_set(), f"best evaluation {max(curve):.1f} after {MAX_UPDATES} updates"
