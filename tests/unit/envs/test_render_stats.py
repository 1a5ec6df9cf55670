"""Rendering draws what the env holds (cells, robots, sub-team colours); env-stats summarizes correctly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vast.envs import render, stats
from vast.envs.registry import make_env, make_spec


def env_at(name, seed=0):
    env = make_env(make_spec(name), 1)
    env.reset(seed)
    return env


def test_warehouse_frame_shows_walls_dropoffs_and_subteam_colours():
    env = env_at("warehouse-4")
    env.set_world(0, positions=[(0, 1), (2, 1), (0, 3), (2, 3)])
    img = render.render_frame(env, subteams=[0, 1, 2, 3])
    c, top = render.CELL, render.HEADER
    assert img.size == (3 * c, 5 * c + top)

    def center(x, y):  # NORTH up: y = H-1 is the top row
        return img.getpixel((x * c + c // 2, top + (4 - y) * c + c // 2))

    assert center(0, 4) == render.WAREHOUSE_COLORS[-1]
    assert center(1, 2) == render.WAREHOUSE_COLORS[-1]
    for i, (x, y) in enumerate([(0, 1), (2, 1), (0, 3), (2, 3)]):
        assert center(x, y) == render.PALETTE[i]
    assert center(1, 1) == render.WAREHOUSE_COLORS[2]  # an empty type-2 station


def test_battle_frame_shows_agents_and_opponents():
    env = env_at("battle-20")
    img = render.render_frame(env, subteams=np.arange(20) % 4)
    c, top = render.CELL, render.HEADER
    ax, ay = env.axy[0, 5]
    ox, oy = env.oxy[0, 0]
    assert img.getpixel((int(ax) * c + c // 4, top + int(ay) * c + c // 2)) == render.PALETTE[5 % 4]
    assert img.getpixel((int(ox) * c + 3 * c // 4, top + int(oy) * c + c // 2)) == render.OPPONENT
    with pytest.raises(ValueError):
        render.render_frame(make_env(make_spec("gaussian-squeeze-10"), 1))


def test_episode_gif_and_command_line(tmp_path, capsys):
    frames = render.render_episode_gif("battle-20", tmp_path / "a.png", tmp_path / "a.gif", seed=1, steps=5)
    assert frames == 6
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 6
    assert render.main(["--env", "warehouse-8", "--out", str(tmp_path), "--seed", "2", "--steps", "3"]) == 0
    assert (tmp_path / "warehouse-8-seed2.png").exists() and (tmp_path / "warehouse-8-seed2.gif").exists()
    assert "wrote" in capsys.readouterr().out


def test_stats_of_a_deterministic_policy_are_exact():
    s = stats.env_stats("warehouse-4", episodes=70, policy="noop", seed=1)  # two batches: 64 + 6
    assert s["return"]["mean"] == pytest.approx(-0.04 * 50) and s["return"]["std"] == pytest.approx(
        0, abs=1e-6
    )
    assert s["length"] == {"mean": 50.0, "std": 0.0, "ci95": [50.0, 50.0], "n": 70}
    assert s["metric"]["mean"] == 0
    gs = stats.env_stats("gaussian-squeeze-20", episodes=3, policy="noop")
    assert gs["metric"]["mean"] == 0 and gs["length"]["mean"] == 1


def test_stats_interval_is_the_normal_approximation():
    s = stats.env_stats("battle-20", episodes=20, seed=3)
    r = s["return"]
    half = 1.959963984540054 * r["std"] / np.sqrt(20)
    assert r["ci95"] == pytest.approx([r["mean"] - half, r["mean"] + half])
    assert s == stats.env_stats("battle-20", episodes=20, seed=3)
    assert -20 <= s["metric"]["mean"] <= 20 and 1 <= s["length"]["mean"] <= 100


def test_stats_command_line(capsys):
    assert stats.main(["--env", "gaussian-squeeze-30", "--episodes", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["env"] == "gaussian-squeeze-30" and out["metric"]["n"] == 4
    assert stats.main(["--env", "warehouse-4", "--episodes", "2"]) == 0
    assert "completed orders" in capsys.readouterr().out
