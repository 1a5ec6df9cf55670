"""Operators Ψ against hand-computed values, and Theorem 1 (greedy local actions are jointly greedy)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vast.common.config import AlgoConfig
from vast.common.networks import TorchFeatures
from vast.learner.algos.assignment import subteam_sums
from vast.learner.algos.operators.independent import IndependentOperator
from vast.learner.algos.operators.qmix import QMixer, QMIXOperator
from vast.learner.algos.operators.qtran import QTRANOperator, qtran_loss
from vast.learner.algos.operators.vdn import VDNOperator

Q = torch.tensor([[1.0, 2.0], [0.0, -1.0]])  # sub-team values (M = 2, n = 2)
Q_MAX = torch.tensor([[2.0, 3.0], [1.0, 0.0]])
STATE = TorchFeatures(torch.zeros(2, 1), None)


def elu(x: float) -> float:
    return x if x > 0 else math.exp(x) - 1.0


def test_il_operator_regresses_every_column_to_g():
    loss, _ = IndependentOperator(2, 1, AlgoConfig()).loss(Q, Q_MAX, STATE, torch.tensor([3.0, -1.0]))
    # ((1-3)^2 + (2-3)^2 + (0+1)^2 + (-1+1)^2) / 4
    assert loss.item() == pytest.approx(1.5)


def test_vdn_operator_regresses_the_sum_to_g():
    loss, _ = VDNOperator(2, 1, AlgoConfig()).loss(Q, Q_MAX, STATE, torch.tensor([2.0, 1.0]))
    # sums 3 and -1: ((3-2)^2 + (-1-1)^2) / 2
    assert loss.item() == pytest.approx(2.5)


def _constant_hypernets(op: QMIXOperator, w1, b1, w_final, v) -> None:
    """Zero every weight so the hypernetworks output their final biases whatever the state."""
    with torch.no_grad():
        for p in op.parameters():
            p.zero_()
        op.mixer.hyper_w1[2].bias.copy_(torch.tensor(w1))
        op.mixer.hyper_b1.bias.copy_(torch.tensor(b1))
        op.mixer.hyper_w_final[2].bias.copy_(torch.tensor(w_final))
        op.mixer.hyper_v[2].bias.copy_(torch.tensor([v]))


def test_qmix_operator_hand_computed():
    op = QMIXOperator(2, 1, AlgoConfig(critic_hidden=2))
    # W1 rows are inputs: |[[1, -2], [0.5, 1]]|, b1 = [0, -3], |w_final| = [1, 0.5], V = 2.
    _constant_hypernets(op, [1.0, -2.0, 0.5, 1.0], [0.0, -3.0], [1.0, -0.5], 2.0)
    q = torch.tensor([[1.0, 2.0], [-1.0, -2.0]])
    q_tot_0 = elu(1 * 1 + 2 * 0.5 + 0) * 1 + elu(1 * 2 + 2 * 1 - 3) * 0.5 + 2  # 4.5
    q_tot_1 = elu(-1 * 1 - 2 * 0.5 + 0) * 1 + elu(-1 * 2 - 2 * 1 - 3) * 0.5 + 2
    assert op.mixer(q, STATE.dense).tolist() == pytest.approx([q_tot_0, q_tot_1], rel=1e-6)
    loss, _ = op.loss(q, q, STATE, torch.tensor([5.0, 1.0]))
    expected = ((q_tot_0 - 5.0) ** 2 + (q_tot_1 - 1.0) ** 2) / 2
    assert q_tot_0 == pytest.approx(4.5)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def _constant_qtran(squared: bool, joint: float, v: float) -> QTRANOperator:
    """All weights zero: the central net outputs JointQ = joint and V = v for every input."""
    op = QTRANOperator(2, 1, AlgoConfig(critic_hidden=4, qtran_squared_opt=squared))
    with torch.no_grad():
        for p in op.parameters():
            p.zero_()
        op.net.joint_q.bias.fill_(joint)
        op.net.v.bias.fill_(v)
    return op


@pytest.mark.parametrize(
    ("squared", "opt", "total", "grad_q", "grad_q_max"),
    [
        # code: L_opt = Q'max - Qhat_max + Vmax^2 = [5-4+.25, 1-4+.25] -> mean -0.75
        (False, -0.75, 20.0 - 0.75 + 10.25, [-0.5, -4.5], [0.5, 0.5]),
        # paper: (Q'max - Qhat_max + Vmax)^2 = [1.5^2, (-2.5)^2] -> mean 4.25
        (True, 4.25, 20.0 + 4.25 + 10.25, [-0.5, -4.5], [1.5, -2.5]),
    ],
)
def test_qtran_operator_hand_computed(squared, opt, total, grad_q, grad_q_max):
    op = _constant_qtran(squared, joint=4.0, v=0.5)
    q = Q.clone().requires_grad_(True)
    q_max = Q_MAX.clone().requires_grad_(True)
    loss, parts = op.loss(q, q_max, STATE, torch.tensor([3.0, -1.0]))
    # target y = n*G = [6, -2]: L_td = [(4-6)^2, (4+2)^2] -> 20 (with y = G it would be 13)
    assert parts["qtran_td"].item() == pytest.approx(20.0)
    assert parts["qtran_opt"].item() == pytest.approx(opt)
    # L_nopt = min(Q' - Qhat + V, 0)^2 with Q' = [3, -1]: [(-0.5)^2, (-4.5)^2] -> 10.25
    assert parts["qtran_nopt"].item() == pytest.approx(10.25)
    assert loss.item() == pytest.approx(total)
    loss.backward()
    # Only L_nopt (through Q') reaches q, and L_opt (through Q'max) reaches q_max; each column alike.
    assert q.grad.flatten().tolist() == pytest.approx([g for g in grad_q for _ in range(2)])
    assert q_max.grad.flatten().tolist() == pytest.approx([g for g in grad_q_max for _ in range(2)])


def test_qtran_td_gradient_reaches_only_the_central_net():
    torch.manual_seed(0)
    op = QTRANOperator(2, 3, AlgoConfig(critic_hidden=8))
    q = torch.randn(4, 2, requires_grad=True)
    q_max = torch.randn(4, 2, requires_grad=True)
    _, parts = op.loss(q, q_max, TorchFeatures(torch.randn(4, 3), None), torch.randn(4))
    parts["qtran_td"].backward()
    assert all(g is None or not g.any() for g in (q.grad, q_max.grad))
    assert op.net.joint_q.weight.grad.abs().sum() > 0


def test_qtran_loss_function_squared_vs_linear_opt():
    one = torch.ones(1)
    args = {
        "q_hat": one * 2,
        "v": one,
        "q_hat_max": one * 3,
        "v_max": one * -2,
        "q_sum": one,
        "q_max_sum": one * 4,
    }
    _, linear = qtran_loss(**args, target=one * 2, squared_opt=False)
    _, squared = qtran_loss(**args, target=one * 2, squared_opt=True)
    assert linear["qtran_opt"].item() == pytest.approx(4 - 3 + 4)
    assert squared["qtran_opt"].item() == pytest.approx((4 - 3 - 2) ** 2)
    assert linear["qtran_nopt"].item() == 0.0  # min(1 - 2 + 1, 0) = 0


# -- Theorem 1 ----------------------------------------------------------------------------------------


@st.composite
def factorised_problems(draw):
    n = draw(st.integers(1, 4))
    a = draw(st.integers(2, 3))
    k = draw(st.integers(1, n))
    table = draw(st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=n * a, max_size=n * a))
    assign = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    return (
        torch.tensor(table, dtype=torch.float64).view(n, a),
        torch.tensor(assign),
        k,
        draw(st.integers(0, 2**16)),
    )


def _joint_values(table: torch.Tensor, assign: torch.Tensor, k: int):
    """Sub-team values for every joint action (brute force) and for the greedy local actions."""
    n, a = table.shape
    joint = torch.tensor(list(itertools.product(range(a), repeat=n)))  # (A^n, n)
    local = table.T.gather(0, joint)  # (A^n, n): Q_i(a_i)
    greedy = table.max(1).values.unsqueeze(0)  # (1, n)
    return subteam_sums(local, assign, k), subteam_sums(greedy, assign, k)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(factorised_problems())
def test_theorem1_vdn_greedy_local_actions_maximise_q_tot(problem):
    table, assign, k, _ = problem
    joint, greedy = _joint_values(table, assign, k)
    assert greedy.sum().item() >= joint.sum(1).max().item() - 1e-9


@settings(max_examples=150, deadline=None, derandomize=True)
@given(factorised_problems())
def test_theorem1_qmix_greedy_local_actions_maximise_q_tot(problem):
    table, assign, k, seed = problem
    torch.manual_seed(seed)
    mixer = QMixer(state_dim=3, n=k, embed=8).double()
    state = torch.randn(1, 3, dtype=torch.float64)
    joint, greedy = _joint_values(table, assign, k)
    with torch.no_grad():
        best = mixer(joint, state.expand(joint.shape[0], -1)).max().item()
        at_greedy = mixer(greedy, state).item()
    assert at_greedy >= best - 1e-9 * (1 + abs(best))
