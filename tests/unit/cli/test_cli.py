"""The `vast` command line: flags generated from the config, one-line errors with exit code 2."""

from __future__ import annotations

import dataclasses

import pytest

from vast.cli import config_parser, main
from vast.common.config import Config, field_help, iter_fields


def _error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["learner", "--learner.bogus", "1"], "unrecognized arguments: --learner.bogus"),
        (["train", "--algo", "qmix", "--mixer", "vdn"], "flat baseline"),
        (["train", "--env", "warehous-16"], "unknown environment 'warehous-16'"),
        (["train", "--mode", "fast"], "learner.mode must be one of"),
        (["train", "--seed", "abc"], "bad value for run.seed"),
        (["train", "--updates"], "expected one argument"),
        (["nonsense"], "unknown command"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(capsys, argv, expected):
    assert main(argv) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1, lines
    assert expected in lines[0]


def test_every_config_setting_has_a_flag_with_help_type_and_default(capsys):
    parser = config_parser("vast train", "")
    flags = {opt for action in parser._actions for opt in action.option_strings}
    for key, field, _default in iter_fields(Config()):
        assert f"--{key}" in flags, key
        assert field_help(field), f"{key} has no help text"
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for section in (f.name for f in dataclasses.fields(Config) if f.name not in ("redis_url", "actors")):
        assert f"\n{section}:\n" in text, section
    assert "--learner.eval_every INT" in text and "(default: 1)" in text
    assert "{sync,async}" in text


def test_aliases_and_long_flags_set_the_same_keys():
    parser = config_parser("vast train", "")
    args = parser.parse_args(["--env", "battle-20", "--learner.eval_every", "5", "--run.serial"])
    assert vars(args) == {
        "config": None,
        "env.name": "battle-20",
        "learner.eval_every": "5",
        "run.serial": "true",
    }


def test_deprecated_operator_spelling_still_works_with_a_warning():
    from vast.common.config import resolve

    with pytest.warns(FutureWarning, match="'il' is deprecated: use 'independent'"):
        cfg = resolve(None, {"algo.mixer": "il"}, environ={})
    assert cfg.algo.mixer == "independent"
