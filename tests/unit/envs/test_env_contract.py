"""Every family honours the BatchedEnv contract of envs/base.py, and the wire round trip is exact.

The wire test records `wire_step()` at every step, decodes the stack with `decode_batch` (as the
learner does) and requires the result to equal what `observe()` and `state()` returned, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import make_episodes
from vast.common.episode import episode_arrays, standard_arrays
from vast.envs.registry import family_module, make_env, make_spec
from vast.learner.batch import build_batch

NAMES = [
    "warehouse-4",
    "warehouse-8",
    "warehouse-16",
    "warehouse-32",
    "battle-20",
    "battle-40",
    "battle-80",
    "battle-7",
    "gaussian-squeeze-200",
]


def play(name, batch=3, seed=0, steps=None, **options):
    """Random-policy episode; returns per-step lists of observe/state/wire/alive/positions/rewards."""
    spec = make_spec(name, **options)
    env = make_env(spec, batch)
    env.reset(seed)
    rng = np.random.default_rng(seed)
    log = {k: [] for k in ("obs", "state", "wire", "alive", "positions", "reward", "done")}
    for _ in range(steps or spec.episode_limit):
        log["obs"].append(env.observe())
        log["state"].append(env.state())
        log["wire"].append(env.wire_step())
        log["alive"].append(env.alive())
        log["positions"].append(env.positions())
        result = env.step(rng.integers(0, spec.n_actions, (batch, spec.n_agents)))
        log["reward"].append(result.team_reward)
        log["done"].append(result.done)
        if result.done.all():
            break
    return spec, env, log


@pytest.mark.parametrize("name", NAMES)
def test_contract_shapes_and_dtypes(name):
    spec, env, log = play(name, steps=3)
    assert spec.name == name and make_spec(name) == spec
    b, n = 3, spec.n_agents
    obs = log["obs"][0]
    if spec.obs_dense_dim:
        assert obs.dense.shape == (b, n, spec.obs_dense_dim) and obs.dense.dtype == np.float32
    if spec.obs_onehot_dim:
        assert obs.onehot.shape == (b, n)
    assert log["state"][0].shape == (b, spec.state_dim) and log["state"][0].dtype == np.float32
    assert log["alive"][0].shape == (b, n) and log["alive"][0].dtype == bool
    assert log["positions"][0].shape == (b, n, 2) and log["positions"][0].dtype == np.int16
    assert log["reward"][0].shape == (b,) and log["reward"][0].dtype in (np.float32, np.float64)
    assert log["done"][0].shape == (b,) and log["done"][0].dtype == bool
    assert env.metric().shape == (b,) and env.metric().dtype == np.float64
    assert set(spec.wire).isdisjoint(standard_arrays(spec))
    episode_arrays(spec)  # no clash
    for name_, arr in log["wire"][0].items():
        assert arr.dtype == np.dtype(spec.wire[name_].dtype) and arr.shape == (b, *spec.wire[name_].shape)


DECODE_OPTIONS = {"battle-20": {"regen": 0.01}, "battle-7": {"hp": "exact"}}
RESIDUES_SEEN = ("battle-40", "battle-80")  # float HP: these seeded episodes hold surviving residues


@pytest.mark.parametrize("name", NAMES)
def test_decode_batch_reproduces_observe_and_state_exactly(name):
    spec, _, log = play(name, batch=3, seed=5, **DECODE_OPTIONS.get(name, {}))
    t = len(log["wire"])
    wire = {k: np.stack([w[k] for w in log["wire"]], axis=1) for k in spec.wire}  # (R=B, T, ...)
    if name in RESIDUES_SEEN:  # an agent alive with ~1e-16 HP: seen alive, with HP/3 ~ 3e-16
        residue = wire["agent_hp"] > 30
        assert residue.any()
        obs = np.stack([o.dense for o in log["obs"]], axis=1)
        assert (obs[..., 24][residue] > 0).all() and (obs[..., 24][residue] < 1e-14).all()
    obs, state = family_module(name).decode_batch(spec, wire, (3, t))
    expected_state = np.stack(log["state"], axis=1)
    np.testing.assert_array_equal(state.dense, expected_state)
    if spec.obs_dense_dim:
        np.testing.assert_array_equal(obs.dense, np.stack([o.dense for o in log["obs"]], axis=1))
    if spec.obs_onehot_dim:
        np.testing.assert_array_equal(obs.onehot, np.stack([o.onehot for o in log["obs"]], axis=1))
    assert obs.csr is None and state.csr is None  # only when asked for
    # asked for sparse rows: the same arrays, and the nonzeros as exact CSR where the domain emits them
    # (Battle's observations, Warehouse's state)
    held, held_state = family_module(name).decode_batch(spec, wire, (3, t), sparse=True)
    for got_features, want_features in ((held, obs), (held_state, state)):
        for got, want in zip(got_features[:2], want_features[:2]):
            assert (got is None) == (want is None) and (want is None or np.array_equal(got, want))
    assert (held.csr is not None) == name.startswith("battle")
    assert (held_state.csr is not None) == name.startswith("warehouse")
    for features in (held, held_state):
        if features.csr is not None:
            assert_exact_csr(features.csr, features.dense)


def assert_exact_csr(csr, dense):
    """`csr` holds exactly the nonzeros of `dense`'s rows (leading dims flattened), columns ascending."""
    crow, col, val = csr
    flat = dense.reshape(-1, dense.shape[-1])
    rows, cols = np.nonzero(flat)  # row-major: columns ascending within each row
    assert crow.dtype == col.dtype == np.int32 and val.dtype == np.float32
    assert crow[0] == 0 and crow[-1] == len(rows) and len(crow) == flat.shape[0] + 1
    np.testing.assert_array_equal(np.diff(crow), np.count_nonzero(flat, axis=1))
    np.testing.assert_array_equal(col, cols)
    np.testing.assert_array_equal(val, flat[rows, cols])


@pytest.mark.parametrize("name", ["warehouse-4", "battle-20"])
def test_decode_batch_accepts_padding_and_rejects_garbage(name):
    spec = make_spec(name)
    module = family_module(name)
    zeros = {k: np.zeros((2, 4, *s.shape), dtype=s.dtype) for k, s in spec.wire.items()}
    obs, state = module.decode_batch(spec, zeros, (2, 4))
    assert obs.dense.shape == (2, 4, spec.n_agents, spec.obs_dense_dim) and np.isfinite(state.dense).all()
    key = next(k for k in spec.wire if k.endswith("xy"))
    zeros[key][0, 0, 0, 0] = 250
    with pytest.raises(ValueError):
        module.decode_batch(spec, zeros, (2, 4))


@pytest.mark.parametrize("name", ["warehouse-16", "battle-80"])
def test_done_copies_stay_done_with_zero_reward(name):
    spec, env, log = play(name, batch=2, seed=1)
    done = np.stack(log["done"])
    rewards = np.stack(log["reward"])
    for b in range(2):
        first = int(np.argmax(done[:, b]))
        assert done[first:, b].all()
        assert (rewards[first + 1 :, b] == 0).all()


def test_wire_is_at_least_ten_times_smaller_than_float32_observations():
    for name in ("warehouse-16", "battle-80"):
        spec = make_spec(name)
        wire = sum(np.dtype(s.dtype).itemsize * int(np.prod(s.shape)) for s in spec.wire.values())
        float_obs = 4 * spec.n_agents * spec.obs_dense_dim
        assert float_obs / wire >= 10, name


@pytest.mark.parametrize("name", ["warehouse-4", "battle-20"])
def test_rollout_and_learner_batch_use_the_wire(name):
    episodes = make_episodes(name, 2, "contract")
    spec = make_spec(name)
    batch = build_batch(episodes, spec, "cpu", learner_version=0)
    m = sum(ep.length for ep in episodes)  # observations and state: the valid rows only
    assert batch.obs.dense.shape == (m, spec.n_agents, spec.obs_dense_dim)
    assert batch.state.shape == (m, spec.state_dim)
    assert torch.isfinite(batch.returns).all()
    # the decoded first observation of each episode equals a fresh env's first observation
    env = make_env(spec, 2)
    env.reset(0)
    firsts = [0, episodes[0].length]
    np.testing.assert_array_equal(batch.obs.dense[firsts].numpy(), env.observe().dense)
    np.testing.assert_array_equal(batch.state[firsts].numpy(), env.state())


@pytest.mark.parametrize(
    "name, options",
    [("warehouse-8", {}), ("battle-40", {}), ("battle-20", {"hp": "exact"}), ("gaussian-squeeze-200", {})],
)
def test_event_counts_account_for_every_reward(name, options):
    """The domain's event counters explain the team return exactly: they count what the kernels did."""
    from vast.envs.gaussian_squeeze import gaussian_squeeze
    from vast.envs.stats import play_episodes

    ep = play_episodes(name, 40, seed=4, batch=16, **options)
    if name.startswith("battle"):
        explained = ep["agent_hits"] - 0.1 * ep["agent_failed_attacks"] - 0.5 * ep["opponent_hits"]
        assert (ep["metric"] == ep["opponents_killed"] - ep["agents_killed"]).all()
        assert (ep["opponents_killed"] <= ep["agent_hits"]).all()
        assert ep["agent_failed_attacks"].sum() > 0 and ep["opponent_hits"].sum() > 0
    elif name.startswith("warehouse"):
        steps = ep["length"] * make_spec(name).n_agents
        explained = ep["dropoffs"] - 0.5 * ep["collisions"] - 0.01 * (steps - ep["completed_orders"])
        assert ep["moves_blocked"].sum() > 0 and ep["collisions"].sum() > 0 and ep["dropoffs"].sum() > 0
    else:
        explained = gaussian_squeeze(ep["allocation"])
    np.testing.assert_allclose(ep["return"], explained, rtol=1e-5, atol=1e-3)


def test_csr_buffers_grow_and_keep_what_they_hold():
    """The CSR emitters start with a guess of the nonzeros and grow their buffers chunk by chunk."""
    from vast.envs import _kernels as k

    col, val = k._csr_buffers(1)
    col[:3], val[:3] = [5, 6, 7], [1.0, 2.0, 3.0]
    same_col, same_val = k._csr_room(col, val, 3, 10)
    assert same_col is col and same_val is val
    grown_col, grown_val = k._csr_room(col, val, 3, len(col))
    assert len(grown_col) >= len(col) + 3 and len(grown_val) == len(grown_col)
    assert grown_col[:3].tolist() == [5, 6, 7] and grown_val[:3].tolist() == [1.0, 2.0, 3.0]
