"""The setting syntax names every registered method, operator and assignment, and rejects the rest."""

from __future__ import annotations

import pytest

from vast.common.algorithms import ASSIGNMENTS, METHODS, OPERATORS
from vast.common.config import Config, ConfigError
from vast.experiment import presets
from vast.experiment.settings import parse_setting, parse_settings


@pytest.mark.parametrize(
    "text, canonical, label",
    [
        ("vast-qtran@0.25", "vast-qtran-metagrad@0.25", "VAST-QTRAN (η=1/4)"),
        ("vast-qmix-spatial@1/2", "vast-qmix-spatial@0.5", "VAST-QMIX-Spatial (η=1/2)"),
        ("vast-il@0.5", "vast-independent-metagrad@0.5", "VAST-IL (η=1/2)"),
        ("vast-random", "vast-qtran-random@0.25", "VAST-QTRAN-Random (η=1/4)"),
        ("vast", "vast-qtran-metagrad@0.25", "VAST-QTRAN (η=1/4)"),
        ("qmix", "qmix", "QMIX"),
        ("il", "il", "IL"),
        (
            "vast-qtran@0.25:algo.return_norm=batch",
            "vast-qtran-metagrad@0.25:algo.return_norm=batch",
            "VAST-QTRAN (η=1/4) [return_norm=batch]",
        ),
    ],
)
@pytest.mark.filterwarnings("ignore:operator .* 'il' is deprecated:FutureWarning")
def test_settings_parse_to_one_canonical_spelling(text, canonical, label):
    setting = parse_setting(text)
    assert setting.canonical() == canonical
    assert setting.label() == label
    assert parse_setting(canonical) == setting  # the canonical spelling reads back as itself


def test_every_registered_operator_and_assignment_can_be_named():
    for operator in OPERATORS.names():
        for assignment in ASSIGNMENTS.names():
            eta = "1" if assignment == "identity" else "0.5"
            setting = parse_setting(f"vast-{operator}-{assignment}@{eta}")
            cfg = Config()
            setting.apply(cfg)
            cfg.validate()
            assert (cfg.algo.mixer, cfg.algo.assign, cfg.algo.eta) == (operator, assignment, float(eta))
    for method in METHODS.names():
        assert parse_setting(method).method == method


def test_a_setting_becomes_the_config_of_its_run():
    cfg = Config()
    parse_setting("vast-vdn-fixed@0.5:learner.eval_episodes=3").apply(cfg)
    cfg.validate()
    assert (cfg.algo.algo, cfg.algo.mixer, cfg.algo.assign, cfg.algo.eta) == ("vast", "vdn", "fixed", 0.5)
    assert cfg.learner.eval_episodes == 3


@pytest.mark.parametrize(
    "text, message",
    [
        ("vastx", "unknown method"),
        ("vast-nosuch", "names no known operator/assignment"),
        ("qmix-spatial", "flat method"),
        ("qmix@0.5", "flat method"),
        ("vast@2", r"eta must be in \(0, 1\]"),
        ("vast@abc", "not a number"),
        ("vast:algo.nosuch=1", "unknown config key"),
        ("vast:algo.lr", "section.key=value"),
    ],
)
def test_bad_settings_are_rejected_with_the_reason(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_setting(text)


def test_a_list_of_settings_drops_duplicates_in_order():
    names = [s.canonical() for s in parse_settings("qmix, vast-qtran@0.25,vast-qtran-metagrad@1/4,il")]
    assert names == ["qmix", "vast-qtran-metagrad@0.25", "il"]


def test_presets_follow_the_paper():
    assignment = presets.get_preset("paper-assignment")
    assert assignment.envs == ("warehouse-16", "battle-80", "gaussian-squeeze-800")
    assert assignment.settings("warehouse-16")[-1][0] == "qmix"  # best baseline, reference plot.py
    assert assignment.settings("gaussian-squeeze-800")[-1][0] == "qtran"
    assert assignment.settings("warehouse-4")[-1][0] == "qtran"
    assert [s for s, _ in presets.get_preset("paper-operators").settings("battle-20")] == [
        "vast-independent@0.5",
        "vast-vdn@0.5",
        "vast-qmix@0.5",
        "vast-qtran@0.5",
    ]
    assert len(presets.get_preset("paper-sota").envs) == 6
    assert presets.get_preset("paper-diversity").metric == "diversity"
    assert [presets.paper_updates(e, 0.01) for e in ("warehouse-4", "battle-80", "gaussian-squeeze-200")] == [
        30,
        20,
        100,
    ]
    with pytest.raises(ConfigError, match="unknown preset"):
        presets.get_preset("paper-nosuch")
