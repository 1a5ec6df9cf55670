"""Per-thread torch thread counts (the learner's evaluation thread) and the OpenMP spin-wait default."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch

from vast.common.cpu_threads import SPIN_DEFAULTS, default_spin_wait, run_on_one_thread
from vast.common.networks import PolicyNet
from vast.common.rollout import rollout
from vast.envs.registry import make_env, make_spec
from vast.learner.evaluation import Evaluator


def _mkl_threads_line() -> str:
    """parallel_info's MKL line, as seen from the calling thread (absent in builds without MKL)."""
    lines = [ln for ln in torch.__config__.parallel_info().splitlines() if "mkl_get_max_threads" in ln]
    return lines[0].strip() if lines else ""


def _in_thread(fn):
    out = {}
    worker = threading.Thread(target=lambda: out.setdefault("value", fn()))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    return out["value"]


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_one_thread_applies_to_the_calling_thread_only(two_threads):
    def worker():
        return run_on_one_thread(), torch.get_num_threads(), _mkl_threads_line()

    applied, worker_threads, worker_mkl = _in_thread(worker)
    assert applied and worker_threads == 1
    if worker_mkl:
        assert worker_mkl.endswith(": 1")
    assert torch.get_num_threads() == 2  # the calling thread's count is untouched
    if _mkl_threads_line():
        assert _mkl_threads_line().endswith(": 2")
    assert _in_thread(torch.get_num_threads) == 2  # and a new thread still starts at the process's


def test_the_evaluation_thread_runs_torch_on_one_thread(two_threads):
    evaluator = Evaluator(make_spec("warehouse-4"), episodes=2, seed=0, greedy=False)
    try:
        assert evaluator._worker.submit(torch.get_num_threads).result(timeout=60) == 1
    finally:
        evaluator.close()
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("env_name", ["warehouse-16", "battle-20", "gaussian-squeeze-800"])
def test_episodes_played_on_one_thread_equal_those_played_on_two(two_threads, env_name):
    """What makes the change safe: the evaluation's episodes are the same, action for action."""
    spec = make_spec(env_name)
    torch.manual_seed(3)
    policy = PolicyNet(spec.obs_dense_dim, spec.obs_onehot_dim, spec.n_actions).eval()

    def play():
        episodes, _ = rollout(make_env(spec, 10), policy, 11, torch.Generator().manual_seed(11))
        return episodes

    on_two = play()
    on_one = _in_thread(lambda: run_on_one_thread() and play())
    assert on_one and len(on_one) == len(on_two) == 10
    for a, b in zip(on_one, on_two, strict=True):
        assert a.header["metric"] == b.header["metric"]
        assert a.arrays.keys() == b.arrays.keys()
        for key in a.arrays:
            np.testing.assert_array_equal(a.arrays[key], b.arrays[key], err_msg=key)


def test_the_spin_wait_default_yields_to_a_users_choice():
    fresh: dict[str, str] = {}
    default_spin_wait(fresh)
    assert fresh == SPIN_DEFAULTS
    passive = {"OMP_WAIT_POLICY": "PASSIVE"}
    default_spin_wait(passive)
    assert passive == {"OMP_WAIT_POLICY": "PASSIVE"}
    own = {"GOMP_SPINCOUNT": "5"}
    default_spin_wait(own)
    assert own == {"GOMP_SPINCOUNT": "5"}


def test_the_vast_command_sets_the_default_for_its_children(monkeypatch, capsys):
    from vast.cli import main

    for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):  # set first, so that teardown restores the original
        monkeypatch.setenv(key, "x")
        monkeypatch.delenv(key)
    assert main(["--version"]) == 0
    assert os.environ["GOMP_SPINCOUNT"] == SPIN_DEFAULTS["GOMP_SPINCOUNT"]
    assert "vast" in capsys.readouterr().out
