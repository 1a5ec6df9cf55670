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
    for section in (
        f.name for f in dataclasses.fields(Config) if f.name not in ("redis_url", "redis_shards", "actors")
    ):
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


def test_unreachable_redis_is_one_line_exit_2_and_leaves_no_run_directory(capsys, tmp_path):
    from vast.common.ports import free_port

    argv = ["train", "--redis-url", f"redis://:pw-123@127.0.0.1:{free_port()}/0", "--run-dir", str(tmp_path)]
    assert main([*argv, "--run-name", "nothing", "--no-progress"]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and "cannot reach Redis at redis://:***@127.0.0.1" in lines[0], lines
    assert "pw-123" not in lines[0] and "Traceback" not in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["train", "--resume", "/no/such/run"], "not a run directory"),
        (["train", "--resume", ".", "--config", "x.yaml"], "drop --config"),
        (["keys"], "required: action"),
    ],
)
def test_resume_and_keys_usage_errors(capsys, argv, expected):
    assert main(argv) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and expected in lines[0], lines


def test_keys_generate_writes_a_usable_keypair(capsys, tmp_path):
    import zmq.auth

    assert main(["keys", "generate", str(tmp_path), "--name", "actor-7"]) == 0
    public, secret = zmq.auth.load_certificate(str(tmp_path / "actor-7.key_secret"))
    assert secret is not None and zmq.auth.load_certificate(str(tmp_path / "actor-7.key"))[0] == public
    assert (tmp_path / "actor-7.key_secret").stat().st_mode & 0o077 == 0
    assert "actor-7.key_secret" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra",
    [
        ["--learner.bogus", "1"],
        ["--env", "chess-8"],
        ["--eta", "2"],
        ["--auth.client_key", "/no/key_secret"],
        ["--serial", "--learner.resume", "/no/checkpoint.pt"],
    ],
)
def test_bad_configuration_leaves_no_run_directory(capsys, tmp_path, extra):
    assert main(["train", "--run-dir", str(tmp_path), "--run-name", "x", *extra]) == 2
    assert len(_error_lines(capsys)) == 1
    assert list(tmp_path.iterdir()) == []


def test_output_into_a_pipe_closed_early_ends_without_a_traceback():
    """`vast --help | head -1`: the reader has gone when vast writes; no BrokenPipeError traceback."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write: every write fails with EPIPE
    try:
        writer = subprocess.run(
            [sys.executable, "-c", "from vast.cli import main; import sys; sys.exit(main(['--help']))"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in writer.stderr and "BrokenPipeError" not in writer.stderr, writer.stderr
    assert writer.returncode == 1
