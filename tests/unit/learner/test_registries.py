"""The registries are the single source of names: adding an operator is one file plus one line."""

from __future__ import annotations

import pytest

from tests.helpers import serial_trainer
from vast.cli import config_parser
from vast.common.algorithms import ASSIGNMENTS, METHODS, OPERATORS
from vast.common.config import ConfigError, resolve
from vast.common.lifecycle import StopFlag


@pytest.fixture
def weighted_vdn():
    OPERATORS.add(
        "weighted-vdn",
        "tests.unit.learner.weighted_vdn_operator:WeightedVDNOperator",
        "learned positive weights",
    )
    yield "weighted-vdn"
    OPERATORS._entries.pop("weighted-vdn")


def test_a_new_operator_is_one_file_and_one_registry_line(weighted_vdn, tmp_path):
    trainer = serial_trainer(
        tmp_path, **{"env.name": "gaussian-squeeze-20", "algo.mixer": weighted_vdn, "run.updates": 3}
    )
    assert type(trainer.algo.operator).__name__ == "WeightedVDNOperator"
    before = trainer.algo.operator.w.detach().clone()
    trainer.run(StopFlag())
    assert not trainer.algo.operator.w.detach().equal(before), "its parameters are trained by the critic"
    help_text = config_parser("vast train", "").format_help()
    assert "weighted-vdn" in help_text


def test_unknown_names_list_the_registered_choices():
    with pytest.raises(ConfigError, match="qtran"):
        resolve(None, {"algo.mixer": "qtrann"}, environ={})
    with pytest.raises(ConfigError, match="metagrad"):
        resolve(None, {"algo.assign": "meta"}, environ={})
    with pytest.raises(ConfigError, match="vast"):
        resolve(None, {"algo.algo": "vasst"}, environ={})


def test_every_registered_target_imports():
    for registry in (METHODS, OPERATORS, ASSIGNMENTS):
        for name in registry.names():
            assert callable(registry.load(name)), name
