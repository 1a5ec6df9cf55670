"""The PettingZoo adapter passes PettingZoo's own API and seed tests for every named instance."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from vast.envs.pettingzoo_adapter import parallel_env
from vast.envs.registry import NAMED_INSTANCES


@pytest.mark.parametrize("name", NAMED_INSTANCES)
def test_parallel_api(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PettingZoo reports contract slips as warnings
        parallel_api_test(parallel_env(name), num_cycles=110)


@pytest.mark.parametrize("name", ["warehouse-4", "battle-20", "gaussian-squeeze-200"])
def test_parallel_seed(name):
    parallel_seed_test(lambda: parallel_env(name), num_cycles=60)


@pytest.mark.parametrize("name", ["warehouse-8", "battle-40"])
def test_observations_lie_in_their_spaces_and_seeds_repeat(name):
    def episode(seed):
        env = parallel_env(name)
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(0)
        trace = []
        while env.agents:
            for agent, o in obs.items():
                assert env.observation_space(agent).contains(o), agent
            assert env.state_space.contains(env.state())
            actions = {a: int(rng.integers(env.spec.n_actions)) for a in env.agents}
            obs, rewards, term, trunc, _ = env.step(actions)
            trace.append(sorted(rewards.items()))
        return trace

    first = episode(3)
    assert first == episode(3)
    assert first != episode(4)


def test_battle_agents_leave_when_they_die():
    env = parallel_env("battle-20")
    env.reset(seed=0)
    inner = env.env
    inner.set_world(0, agent_hp=[0.9] + [3.0] * 19, opp_xy=[inner.axy[0, 0]] + inner.oxy[0, 1:].tolist())
    _, rewards, term, trunc, _ = env.step({a: 0 for a in env.agents})
    assert term["agent_0"] and not trunc["agent_0"] and "agent_0" not in env.agents
    assert len(rewards) == 20 and len(env.agents) == 19


def test_gaussian_squeeze_observation_is_the_one_hot_id():
    env = parallel_env("gaussian-squeeze-200")
    obs, _ = env.reset(seed=0)
    assert obs["agent_7"].argmax() == 7 and obs["agent_7"].sum() == 1
    actions = dict.fromkeys(env.agents, 2)  # sum 400: GS(400) = 400
    _, rewards, term, trunc, _ = env.step(actions)
    assert rewards["agent_0"] == pytest.approx(400.0) and all(term.values()) and not any(trunc.values())
