"""Battle[N]: every rule of reference-spec §1.2 on hand-built scenarios with known outcomes.

Most scenarios use Battle-20 with all but a few units dead, so only the units under test act. The
opponents' random move choice is checked through its candidate counts and, statistically, over many
copies of the same scenario.
"""

from __future__ import annotations

import numpy as np
import pytest

from vast.envs import battle
from vast.envs._kernels import bt_candidates, bt_fast_candidates, bt_hp_codes, bt_summed_area
from vast.envs.battle_layouts import formation_size, layout

NOOP, N, S, W, E, ATTACK = range(6)


def make(n_agents: int = 20, batch: int = 1, seed: int = 0, **options):
    env = battle.make_env(battle.make_spec(n_agents, **options), batch)
    env.reset(seed)
    return env


def scene(env, agents, opponents, copy=None):
    """agents / opponents: lists of ((x, y), hp) for units 0, 1, ..; every other unit is dead."""
    n = env.spec.n_agents
    copies = range(env.batch_size) if copy is None else [copy]
    for c in copies:
        axy, ahp, oxy, ohp = np.zeros((n, 2)), np.zeros(n), np.zeros((n, 2)), np.zeros(n)
        for i, (xy, hp) in enumerate(agents):
            axy[i], ahp[i] = xy, hp
        for j, (xy, hp) in enumerate(opponents):
            oxy[j], ohp[j] = xy, hp
        env.set_world(c, agent_xy=axy, agent_hp=ahp, opp_xy=oxy, opp_hp=ohp)


def act(env, first_actions):
    actions = np.zeros((env.batch_size, env.spec.n_agents), dtype=np.int64)
    actions[:, : len(first_actions)] = first_actions
    result = env.step(actions)
    return float(result.team_reward[0]), bool(result.done[0])


def hp(env, side=0, count=None):
    """HP of copy 0's first `count` agents (side 0) or opponents (side 1), in HP, as a list."""
    return env.hit_points()[side][0, :count].tolist()


# --------------------------------------------------------------------------------------------- layouts


def cells(rows):
    out = [(x, y) for ys, (x0, x1) in rows for y in ys for x in range(x0, x1 + 1)]
    return sorted(out, key=lambda c: (c[1], c[0]))


SPEC_LAYOUTS = {
    20: (10, [([2], (1, 2)), (range(3, 7), (0, 3)), ([7], (1, 2))],
         [([2], (7, 8)), (range(3, 7), (6, 9)), ([7], (7, 8))]),
    40: (14, [([3, 4], (1, 4)), (range(5, 9), (0, 5)), ([9, 10], (1, 4))],
         [([3, 4], (9, 12)), (range(5, 9), (8, 13)), ([9, 10], (9, 12))]),
    80: (18, [([3], (2, 5)), ([4, 5], (1, 6)), (range(6, 12), (0, 7)), ([12, 13], (1, 6)), ([14], (2, 5))],
         [([3], (12, 15)), ([4, 5], (11, 16)), (range(6, 12), (10, 17)), ([12, 13], (11, 16)), ([14], (12, 15))]),
}  # fmt: skip


@pytest.mark.parametrize("n", [20, 40, 80])
def test_named_layouts_match_the_spec(n):
    side, agents, opponents = SPEC_LAYOUTS[n]
    lay = layout(n)
    assert (lay.width, lay.height) == (side, side)
    assert [tuple(c) for c in lay.agents.tolist()] == cells(agents)
    assert [tuple(c) for c in lay.opponents.tolist()] == cells(opponents)
    spec = battle.make_spec(n)
    assert spec.state_dim == {20: 200, 40: 392, 80: 648}[n] and spec.obs_dense_dim == 196


@pytest.mark.parametrize("n", [1, 3, 7, 33, 100, 257, 1000])
def test_generated_layouts_have_n_distinct_mirrored_units(n):
    lay = layout(n)
    assert len({tuple(c) for c in lay.agents.tolist()}) == n
    mirrored = {(lay.width - 1 - x, y) for x, y in lay.agents.tolist()}
    assert mirrored == {tuple(c) for c in lay.opponents.tolist()}
    w, _ = formation_size(n)
    assert lay.agents[:, 0].max() == w - 1 and lay.width == 2 * w + 2
    assert lay.agents[:, 1].min() > 0 and lay.agents[:, 1].max() < lay.height - 1


# ------------------------------------------------------------------------------------------ agent phase


def test_attack_on_an_empty_cell_costs_a_tenth():
    env = make()
    scene(env, [((0, 0), 3)], [((9, 9), 3)])
    assert act(env, [ATTACK]) == (pytest.approx(-0.1), False)


def test_attack_hits_one_opponent_for_one_hp_and_earns_one():
    env = make()
    scene(env, [((4, 4), 3)], [((4, 4), 3), ((9, 9), 3)])
    r, _ = act(env, [ATTACK])
    # the opponent then attacks back in phase 2 (-0.5) after healing 2.0 -> 2.1
    assert r == pytest.approx(1.0 - 0.5)
    assert hp(env, 1, 2) == [2.1, 3.0]
    assert hp(env, 0, 1) == [2.0]


def test_same_step_kill_race_second_attacker_earns_zero():
    env = make()
    scene(env, [((4, 4), 3), ((4, 4), 3)], [((4, 4), 1), ((9, 9), 3)])
    env.fixed_order = np.arange(20)
    r, done = act(env, [ATTACK, ATTACK])
    assert r == pytest.approx(1.0)  # +1 for the kill, 0 for the late attacker, no opponent hit back
    assert env.ohp[0, 0] == 0 and env.kills[0].tolist() == [1, 0] and not done
    counts = {name: int(v[0]) for name, v in env.event_counts().items()}
    assert counts["agent_hits"] == 1 and counts["agent_attacks_no_alive_target"] == 1
    assert env.metric()[0] == 1


def test_the_papers_kill_reward_is_an_option():
    """The code rewards a hit with +1 and a kill with nothing more; kill_bonus=1 gives the paper's reward."""
    for bonus, expected in ((0.0, 1.0), (1.0, 2.0)):
        env = make(kill_bonus=bonus)
        scene(env, [((4, 4), 3), ((0, 0), 3)], [((4, 4), 1), ((9, 9), 3)])
        assert act(env, [ATTACK])[0] == pytest.approx(expected)


def test_agents_move_and_stay_on_the_grid():
    env = make()
    scene(env, [((0, 0), 3), ((5, 5), 3), ((9, 9), 3), ((5, 5), 3)], [((9, 0), 3)])
    act(env, [W, N, E, S])
    assert env.axy[0, :4].tolist() == [[0, 0], [5, 6], [9, 9], [5, 4]]


def test_regeneration_is_capped_and_happens_on_the_units_own_turn():
    env = make()
    scene(env, [((0, 0), 3), ((0, 1), 2), ((0, 2), 2.9)], [((9, 9), 1.5)])
    act(env, [NOOP, NOOP, NOOP])
    assert hp(env, 0, 3) == [3.0, 2.1, 3.0]
    assert hp(env, 1, 1) == [1.6]
    paper = make(regen=0.01)
    scene(paper, [((0, 1), 2)], [((9, 9), 1.5)])
    act(paper, [NOOP])
    assert hp(paper, 0, 1) == [2.01] and paper.units == 100
    exact = make(regen=0.01, hp="exact")
    scene(exact, [((0, 1), 2)], [((9, 9), 1.5)])
    act(exact, [NOOP])
    assert exact.ahp[0, 0] == 201 and exact.ahp.dtype == np.int64


# --------------------------------------------------------------------------------------- opponent phase


def test_opponent_attacks_an_agent_on_its_cell_and_does_not_move():
    env = make()
    scene(env, [((6, 6), 3), ((0, 0), 3)], [((6, 6), 3)])
    r, _ = act(env, [NOOP, NOOP])
    assert r == pytest.approx(-0.5)
    assert hp(env, 0, 2) == [2.0, 3.0]
    assert env.oxy[0, 0].tolist() == [6, 6]


def test_opponents_see_post_phase1_positions():
    env = make()
    scene(env, [((5, 6), 3)], [((6, 6), 3)])
    r, _ = act(env, [E])  # the agent walks onto the opponent's cell; the opponent hits it
    assert r == pytest.approx(-0.5) and hp(env, 0, 1) == [2.0]


def test_candidate_counts():
    w = h = 10
    count = np.zeros((w, h), dtype=np.int32)
    assert bt_candidates(count, 2, 5, w) == (0, 0, 0, 0)  # x < W/2, nobody in view: all six actions
    assert bt_candidates(count, 5, 5, w) == (0, 0, 1, 0)  # x >= W/2: [WEST]
    count[7, 6] = 3  # a diagonal cell (dx=2, dy=1) with three agents adds EAST and NORTH once
    assert bt_candidates(count, 5, 5, w) == (1, 0, 1, 1)
    count[5, 2] = 1  # straight below (dy=-3): SOUTH
    count[1, 5] = 1  # dx=-4: out of view
    assert bt_candidates(count, 5, 5, w) == (1, 1, 1, 1)
    count[3, 5] = 1  # dx=-2: WEST again
    assert bt_candidates(count, 5, 5, w) == (1, 1, 2, 1)


def test_summed_area_candidates_equal_the_7x7_scan():
    """The step kernel counts candidates with a summed-area table of the occupied cells; it must give the
    spec's scan's counts everywhere, edges and corners included."""
    rng = np.random.default_rng(0)
    for w in (10, 18, 7):
        for _ in range(20):
            count = (rng.random((w, w)) < rng.uniform(0.02, 0.5)) * rng.integers(1, 4, (w, w))
            count = count.astype(np.int32)
            sat = np.zeros((w + 1, w + 1), dtype=np.int32)
            bt_summed_area(count, sat)
            for x in range(w):
                for y in range(w):
                    assert bt_fast_candidates(sat, x, y, w, w) == bt_candidates(count, x, y, w)


def move_frequencies(opponent_xy, agent_xy, copies=3000):
    env = make(batch=copies, seed=1)
    scene(env, [(agent_xy, 3)], [(opponent_xy, 3)])
    act(env, [NOOP])
    moved = env.oxy[:, 0] - np.array(opponent_xy)
    labels = {(0, 1): "N", (0, -1): "S", (-1, 0): "W", (1, 0): "E", (0, 0): "stay"}
    keys = [labels[tuple(m)] for m in moved.tolist()]
    return {k: keys.count(k) / copies for k in labels.values()}


def test_opponent_move_choice_is_uniform_over_the_candidate_list():
    freq = move_frequencies((6, 5), (8, 6))  # [WEST] + EAST + NORTH
    for k in ("W", "E", "N"):
        assert freq[k] == pytest.approx(1 / 3, abs=0.04)
    assert freq["S"] == 0 and freq["stay"] == 0
    freq = move_frequencies((2, 5), (9, 9))  # x < W/2 and nobody in view: all six actions
    for k in ("N", "S", "W", "E"):
        assert freq[k] == pytest.approx(1 / 6, abs=0.03)
    assert freq["stay"] == pytest.approx(2 / 6, abs=0.04)


# ----------------------------------------------------------------------------------- death & termination


def test_death_masks_the_agent():
    env = make()
    scene(env, [((6, 6), 0.9), ((0, 0), 3)], [((6, 6), 3)])
    r, done = act(env, [NOOP, NOOP])  # 0.9 heals to 1.0 on its turn, then the opponent hits
    assert r == pytest.approx(-0.5) and not done
    assert env.alive()[0, :2].tolist() == [False, True]
    assert env.positions()[0, 0].tolist() == [-1, -1]
    assert (env.observe().dense[0, 0] == 0).all()
    assert env.metric()[0] == -1
    before = env.axy[0, 0].tolist()
    act(env, [E, NOOP])  # dead agents do nothing
    assert env.axy[0, 0].tolist() == before and env.ahp[0, 0] == 0


def test_episode_ends_when_all_opponents_die():
    env = make(batch=2)
    scene(env, [((4, 4), 3)], [((4, 4), 1)])
    result = env.step(np.full((2, 20), ATTACK))
    assert result.done.all() and result.team_reward.tolist() == [1.0, 1.0]
    assert env.metric().tolist() == [1.0, 1.0]
    result = env.step(np.full((2, 20), ATTACK))  # done copies ignore actions
    assert result.done.all() and (result.team_reward == 0).all()


def test_episode_ends_when_all_agents_die():
    env = make()
    scene(env, [((6, 6), 0.9)], [((6, 6), 3)])
    assert act(env, [NOOP]) == (pytest.approx(-0.5), True)
    assert env.metric()[0] == -1


def test_time_limit_of_one_hundred_steps():
    env = make()
    scene(env, [((0, 0), 3)], [((9, 9), 3)])
    env.set_world(0, t=98)
    assert act(env, [NOOP])[1] is False
    assert act(env, [NOOP])[1] is True


def test_same_seed_same_episode():
    def run(seed):
        env = make(80, batch=3, seed=seed)
        rng = np.random.default_rng(0)
        rewards = [env.step(rng.integers(0, 6, (3, 80))).team_reward.copy() for _ in range(30)]
        return np.array(rewards), env.oxy.copy()

    (r1, o1), (r2, o2), (_, o3) = run(4), run(4), run(5)
    assert (r1 == r2).all() and (o1 == o2).all()
    assert not (o1 == o3).all()


# ------------------------------------------------------------------------------------ observation & state


def reference_obs(env, b, i):
    """The spec's observation, built as the reference builds it: float32 sums of HP / 3, unit by unit."""
    w, h = env.layout.width, env.layout.height
    ahp, ohp = env.hit_points()
    out = np.zeros((4, 7, 7), dtype=np.float32)
    if ahp[b, i] <= 0:
        return out.reshape(-1)
    x, y = env.axy[b, i]
    for dx in range(-3, 4):
        for dy in range(-3, 4):
            cx, cy = x + dx, y + dy
            if not (0 <= cx < w and 0 <= cy < h):
                out[3, 3 + dx, 3 + dy] = 1
                continue
            for j in range(env.spec.n_agents):
                if j != i and ahp[b, j] > 0 and tuple(env.axy[b, j]) == (cx, cy):
                    out[1, 3 + dx, 3 + dy] += np.float32(ahp[b, j] / 3)
                if ohp[b, j] > 0 and tuple(env.oxy[b, j]) == (cx, cy):
                    out[2, 3 + dx, 3 + dy] += np.float32(ohp[b, j] / 3)
    out[0, 3, 3] = ahp[b, i] / 3
    return out.reshape(-1)


def reference_state(env, b):
    w, h = env.layout.width, env.layout.height
    out = np.zeros((2, w, h), dtype=np.float32)
    for c, (xy, hps) in enumerate(zip((env.axy, env.oxy), env.hit_points())):
        for j in range(env.spec.n_agents):
            if hps[b, j] > 0:
                out[c, xy[b, j, 0], xy[b, j, 1]] += np.float32(hps[b, j] / 3)
    return out.reshape(-1)


def test_observation_and_state_match_the_spec_transcription():
    env = make(20, batch=2, seed=3)
    rng = np.random.default_rng(3)
    checked_dead = False
    for _ in range(25):
        obs, state = env.observe().dense, env.state()
        for b in range(2):
            for i in range(20):
                np.testing.assert_array_equal(obs[b, i], reference_obs(env, b, i))
                checked_dead |= env.ahp[b, i] == 0
            np.testing.assert_array_equal(state[b], reference_state(env, b))
        if env.step(rng.integers(0, 6, (2, 20))).done.all():
            break
    assert checked_dead


def test_observation_channels_on_a_small_scenario():
    env = make()
    scene(env, [((0, 5), 3), ((0, 5), 1.5), ((2, 5), 3)], [((1, 6), 3), ((1, 6), 0.3)])
    o = env.observe().dense[0, 0].reshape(4, 7, 7)
    assert o[0, 3, 3] == pytest.approx(1.0) and o[0].sum() == pytest.approx(1.0)
    assert o[1, 3, 3] == pytest.approx(0.5)  # the other agent on my cell
    assert o[1, 5, 3] == pytest.approx(1.0)  # agent 2 at dx = +2
    assert o[2, 4, 4] == pytest.approx(1.1)  # opponents at (1, 6): (3 + 0.3) / 3
    assert o[3, :3].sum() == 21 and o[3, 3:].sum() == 0  # x < 0 is off the grid
    s = env.state().reshape(2, 10, 10)
    assert s[0, 0, 5] == pytest.approx(1.5) and s[1, 1, 6] == pytest.approx(1.1)


# ------------------------------------------------------------------------- the reference's float HP


def residue_scene(hp_mode):
    """The spec's example: an agent at 1.1 HP heals nine times (to 2.000000000000001 in floats), then
    two opponents hit it in the same step. Opponents are kept out of view until that ninth step."""
    env = make(hp=hp_mode)
    far = np.zeros((20, 2))
    far[:2] = [(9, 0), (9, 1)]
    scene(env, [((0, 9), 1.1)], [((9, 0), 3), ((9, 1), 3)])
    for _ in range(8):
        env.set_world(0, opp_xy=far)
        act(env, [NOOP])
    close = far.copy()
    close[:2] = (0, 9)
    env.set_world(0, opp_xy=close)
    return env, act(env, [NOOP])


def test_float_hp_leaves_a_residue_that_survives_a_lethal_hit():
    env, (r, done) = residue_scene("float")
    residue = env.ahp[0, 0]
    assert residue == 8.881784197001252e-16 and not done and r == pytest.approx(-1.0)
    counts = {name: int(v[0]) for name, v in env.event_counts().items()}
    assert counts["agent_residue_survivals"] == 1 and counts["opponent_hits"] == 2
    assert counts["agents_killed"] == 0 and env.alive()[0, 0]
    obs = env.observe().dense[0, 0]
    assert obs[24] == np.float32(residue / 3) and 0 < obs[24] < 1e-15  # seen alive, with HP/3 ~ 3e-16
    assert env.wire_step()["agent_hp"][0, 0] == 30 + 4  # residue code: 3U + 4 (4 * 2^-52 HP)
    r, done = act(env, [NOOP])  # heals to ~0.1, and the next hit kills it
    assert done and env.kills[0].tolist() == [0, 1]


def test_exact_hp_has_no_residue():
    env, (_, done) = residue_scene("exact")
    assert done and env.kills[0].tolist() == [0, 1] and env.ahp[0, 0] == 0
    assert env.event_counts()["agent_residue_survivals"][0] == 0


@pytest.mark.parametrize("hp_mode", battle.HP_MODES)
def test_opponents_still_move_towards_an_agent_killed_earlier_in_their_phase(hp_mode):
    """Opponent 0 kills agent 0; opponent 1 (x < W/2, so no default WEST) sees that agent's cell at dx = +2
    and nothing else: its only candidate is EAST, every time (the reference's map is not updated)."""
    env = make(batch=200, seed=2, hp=hp_mode)
    scene(env, [((4, 5), 0.9), ((9, 9), 3)], [((4, 5), 3), ((2, 5), 3)])
    act(env, [NOOP, NOOP])
    assert (~env.alive()[:, 0]).all() and env.alive()[:, 1].all()
    assert (env.oxy[:, 1] == (3, 5)).all()


def reachable_hp(regen, steps=100):
    """Every HP (Python floats) a unit can have within `steps` heals: one heal then any number of hits."""
    frontier, seen = {3.0}, {3.0, 0.0}
    for _ in range(steps):
        nxt = set()
        for v in frontier:
            v = min(3.0, v + regen)
            while v > 0:
                nxt.add(v)
                v = max(0.0, v - 1.0)
        frontier = nxt - seen
        seen |= nxt
    return np.array(sorted(seen))


@pytest.mark.parametrize("regen", [0.1, 0.01])
def test_hp_codes_give_every_reachable_float_hp_its_exact_observation(regen):
    """The wire's HP code determines float32(HP / 3), the only way HP enters observations and state,
    for every HP the float dynamics reach in an episode: so decoding from codes is exact."""
    values = reachable_hp(regen)
    env = make(regen=regen)
    codes = np.zeros((1, len(values)), dtype=np.int64)
    top = 3 * env.units
    bt_hp_codes(values[None], env.units, top, battle.RESIDUE_CODES, codes)
    table = battle.hp_table(env.units)
    np.testing.assert_array_equal(table[codes[0]], (values / 3).astype(np.float32))
    assert ((codes[0] > 0) == (values > 0)).all()
    residues = values[(values > 0) & (values < 1e-9)]
    assert len(residues) == (36 if regen == 0.1 else 0)  # 1..36 x 2^-52 within 100 steps
    assert codes.max() <= top + battle.RESIDUE_CODES
