"""One typed config: precedence defaults < file < environment < flags; unknown keys are errors."""

from __future__ import annotations

import json

import pytest

from vast.common.config import Config, ConfigError, auto_actors, resolve, usable_cores


def test_precedence_file_env_flags(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("learner:\n  mode: async\n  eval_every: 3\nalgo:\n  eta: 0.5\n")
    cfg = resolve(
        path, {"learner.eval_every": "7"}, environ={"VAST_ALGO__ETA": "0.75", "VAST_RUN__SEED": "11"}
    )
    assert cfg.learner.mode == "async"  # from the file
    assert cfg.algo.eta == 0.75  # env beats file
    assert cfg.learner.eval_every == 7  # flag beats file
    assert cfg.run.seed == 11


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"learner.nope": "1"}, "unknown config key"),
        ({"nope": "1"}, "unknown config key"),
        ({"learner.mode": "fast"}, "learner.mode must be one of"),
        ({"algo.eta": "0"}, "algo.eta must be in"),
        ({"algo.algo": "qmix", "algo.mixer": "vdn"}, "flat baseline"),
        ({"algo.algo": "qtran", "algo.assign": "spatial"}, "needs --algo vast"),
        ({"run.seed": "abc"}, "bad value for run.seed"),
        ({"env.name": "chess-8"}, "unknown environment"),
        ({"env.battle_hp": "double"}, "env.battle_hp must be one of"),
        ({"algo.clip_actor": "-1"}, "clip_actor"),
        ({"actor.id": "-2"}, "actor.id must be >= 0, or -1"),
        ({"actor.id": "-1"}, "needs learner.mode async"),
        ({"actors": "-1"}, "actors must be >= 1, or 0"),
        ({"replay.version_wait_s": "-0.5"}, "replay.version_wait_s must be >= 0"),
    ],
)
def test_invalid_configs_are_rejected_clearly(overrides, message):
    with pytest.raises((ConfigError, ValueError), match=message):
        resolve(None, overrides, environ={})


def test_unknown_key_in_file_and_env(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"learner": {"speed": 3}}))
    with pytest.raises(ConfigError, match="speed"):
        resolve(path, environ={})
    with pytest.raises(ConfigError, match="unknown config key"):
        resolve(None, environ={"VAST_LEARNER__SPEED": "3"})


def test_flat_methods_imply_operator_and_identity_assignment():
    cfg = resolve(None, {"algo.algo": "qmix"}, environ={})
    assert (cfg.algo.mixer, cfg.algo.assign) == ("qmix", "identity")
    assert cfg.algo.n_subteams(200) == 200
    vast = resolve(None, {"algo.eta": "0.25"}, environ={})
    assert (vast.algo.mixer, vast.algo.assign) == ("qtran", "metagrad")
    assert vast.algo.n_subteams(200) == 50 and vast.algo.n_subteams(16) == 4 and vast.algo.n_subteams(4) == 1


def test_reference_defaults_and_their_options_reach_env_and_algo():
    """By default Battle plays the reference's float HP and only the critic is clipped (issue 8)."""
    cfg = resolve(None, {"env.name": "battle-20"}, environ={})
    assert cfg.env.spec().options == {"regen": 0.1, "hp": "float", "kill_bonus": 0.0}
    assert (cfg.algo.clip_critic, cfg.algo.clip_actor, cfg.algo.clip_meta) == (1.0, 0.0, 0.0)
    paper = resolve(
        None,
        {
            "env.name": "battle-20",
            "env.battle_hp": "exact",
            "env.battle_regen": "0.01",
            "env.battle_kill_bonus": "1",
        },
        environ={"VAST_ALGO__CLIP_ACTOR": "1"},
    )
    assert paper.env.spec().options == {"regen": 0.01, "hp": "exact", "kill_bonus": 1.0}
    assert paper.algo.clip_actor == 1.0


def test_saved_config_round_trips(tmp_path):
    cfg = resolve(None, {"learner.mode": "async", "env.name": "gaussian-squeeze-400"}, environ={})
    cfg.save(tmp_path / "config.json")
    again = resolve(tmp_path / "config.json", environ={})
    assert again == cfg and isinstance(again, Config)


@pytest.mark.parametrize(
    "mode, episodes, evaluates, cores, expected",
    [
        ("sync", 10, True, 2, 1),  # this machine: one actor beside the evaluation thread
        ("sync", 10, True, 1, 1),  # never none
        ("sync", 10, False, 2, 2),  # no evaluation: every core plays
        ("sync", 10, True, 8, 7),
        ("sync", 10, True, 64, 10),  # no more actors than an update has episodes (slots)
        ("sync", 3, True, 64, 3),
        ("async", 10, True, 64, 2),
        ("async", 10, True, 1, 2),
    ],
)
def test_auto_actors_by_mode_and_cores(mode, episodes, evaluates, cores, expected):
    assert auto_actors(mode, episodes, evaluates, cores) == expected


@pytest.mark.parametrize("cores", [1, 2, 8, 64])
def test_serial_runs_split_their_work_slots_the_same_on_every_machine(cores):
    assert auto_actors("sync", 10, True, cores, serial=True) == 2


def test_actors_zero_is_resolved_once_and_saved_resolved(tmp_path):
    cfg = resolve(None, {"learner.eval_every": "2"}, environ={})
    assert cfg.actors == auto_actors("sync", 10, True, usable_cores()) >= 1
    explicit = resolve(None, {"actors": "3"}, environ={})
    assert explicit.actors == 3
    cfg.save(tmp_path / "config.json")
    assert json.loads((tmp_path / "config.json").read_text())["actors"] == cfg.actors
    async_cfg = resolve(None, {"learner.mode": "async"}, environ={})
    assert async_cfg.actors == 2
    assert resolve(None, {"run.serial": "true"}, environ={}).actors == 2
