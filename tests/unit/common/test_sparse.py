"""First layers over mostly-zero inputs as sparse products: the same function as the dense layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from vast.bench.learner import METHODS, make_batch
from vast.common.networks import InputLayer, TorchFeatures
from vast.common.sparse import MAX_DENSITY, MIN_ELEMENTS, SparseRows, linear
from vast.envs.registry import make_spec
from vast.learner.algos import build_algorithm


def _mostly_zero(rows: int, d: int, density: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, d, generator=g)
    return x * (torch.rand(rows, d, generator=g) < density)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 300),
    d=st.integers(1, 300),
    density=st.floats(0.0, MAX_DENSITY),
    seed=st.integers(0, 2**16),
)
def test_both_layouts_hold_exactly_the_dense_matrix(rows, d, density, seed):
    x = _mostly_zero(rows, d, density, seed)
    x[0, 0] = float("nan")  # a NaN is a nonzero: it must reach the product, not vanish
    held = SparseRows.from_dense(x, max_density=1.0) if x.numel() >= MIN_ELEMENTS else None
    if held is None:  # small inputs stay dense; build one anyway through a wider matrix
        x = torch.cat([x, torch.zeros(rows, MIN_ELEMENTS // rows + 1)], dim=1)
        held = SparseRows.from_dense(x, max_density=1.0)
    assert torch.equal(held.csr.to_dense().nan_to_num(7.0), x.nan_to_num(7.0))
    assert torch.equal(held.csr_t.to_dense().nan_to_num(7.0), x.t().nan_to_num(7.0))
    assert held.csr.crow_indices().dtype == torch.int32


def test_declines_what_would_not_pay():
    dense_enough = _mostly_zero(1000, 100, 0.5, seed=1)
    assert SparseRows.from_dense(dense_enough) is None  # more than MAX_DENSITY nonzero
    assert SparseRows.from_dense(_mostly_zero(10, 10, 0.01, seed=1)) is None  # too small
    assert SparseRows.from_dense(_mostly_zero(1000, 100, 0.01, seed=1).double()) is None
    assert SparseRows.from_dense(_mostly_zero(1000, 100, 0.01, seed=1)) is not None


@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_the_dense_layer_in_value_and_gradient(with_bias):
    x = _mostly_zero(4000, 196, 0.04, seed=2)  # Battle's observation width and density
    torch.manual_seed(0)
    weight = torch.randn(64, 196, requires_grad=True)
    bias = torch.randn(64, requires_grad=True) if with_bias else None
    grad_out = torch.randn(4000, 64)

    def run(layer):
        weight.grad = None
        if bias is not None:
            bias.grad = None
        out = layer()
        out.backward(grad_out)
        return out.detach(), weight.grad.clone(), None if bias is None else bias.grad.clone()

    dense = run(lambda: F.linear(x, weight, bias))
    sparse = run(lambda: linear(SparseRows.from_dense(x), weight, bias))
    for a, b in zip(dense, sparse):
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_input_layer_and_reshape_use_the_sparse_rows_and_indexing_drops_them():
    torch.manual_seed(0)
    layer = InputLayer(196, 0, 64)
    obs = TorchFeatures(_mostly_zero(50 * 80, 196, 0.04, seed=3).reshape(50, 80, 196), None)
    held = obs.with_sparse_rows()
    assert held.sparse is not None and held.reshape(4000).sparse is held.sparse
    assert (
        held.index(torch.arange(10)).sparse is None
        and held.with_prefix(torch.zeros(50, 80, 1)).sparse is None
    )
    torch.testing.assert_close(layer(held), layer(obs), rtol=1e-6, atol=1e-6)
    assert layer(held).shape == (50, 80, 64)
    other = _mostly_zero(4000, 196, 0.04, seed=4)
    poisoned = TorchFeatures(obs.dense, None, SparseRows.from_dense(other))
    # the layer really multiplies the held rows (rows that disagree with `dense` give another result)
    assert not torch.allclose(layer(poisoned), layer(obs))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # mixed precision keeps the dense product
        assert torch.equal(layer(poisoned), layer(obs))
    stale = TorchFeatures(obs.dense[:10], None, held.sparse)  # rows that are not these features'
    with pytest.raises(ValueError, match="do not hold"):
        layer(stale)


@pytest.mark.parametrize("method", ["QTRAN", "VAST-QTRAN-MetaGrad η=¼"])
def test_an_update_over_sparse_rows_is_the_dense_update_up_to_rounding(method):
    """Battle-20 (observations ~4% nonzero): 3 updates with and without sparse first layers give the
    same losses and the same weights to float32 rounding."""
    from dataclasses import replace

    from vast.learner.batch import Rows

    spec = make_spec("battle-20")
    batch = make_batch(spec)
    rows = Rows.select(batch, batch.valid_rows())
    assert rows.obs.with_sparse_rows().sparse is not None  # the update's rows take the sparse path
    results = {}
    for mode in ("off", "auto"):
        algo = build_algorithm(replace(METHODS[method], sparse_inputs=mode), spec, "cpu", seed=0)
        losses = [algo.update(batch) for _ in range(3)]
        weights = {k: v.clone() for k, v in algo.policy.state_dict().items()}
        results[mode] = losses, weights
    (dense_losses, dense_weights), (sparse_losses, sparse_weights) = results["off"], results["auto"]
    for a, b in zip(dense_losses, sparse_losses):
        assert a.keys() == b.keys()
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), key
    for key in dense_weights:
        torch.testing.assert_close(sparse_weights[key], dense_weights[key], rtol=1e-4, atol=1e-5)
    assert np.isfinite(sparse_losses[-1]["loss/critic"])
