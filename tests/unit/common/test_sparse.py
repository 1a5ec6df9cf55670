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
from vast.common.sparse import MAX_DENSITY, MIN_ELEMENTS, SparseRows, linear, live_rows, transposed_product
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


def test_rows_from_a_producers_csr_equal_the_scanned_rows():
    x = _mostly_zero(1000, 100, 0.04, seed=5)
    scanned = SparseRows.from_dense(x)
    csr = scanned.csr
    crow, col, val = (t.numpy() for t in (csr.crow_indices(), csr.col_indices(), csr.values()))
    given = SparseRows.from_csr(crow.astype(np.int64), col, val.astype(np.float64), 100)
    for a, b in ((given.csr, scanned.csr), (given.csr_t, scanned.csr_t)):
        assert torch.equal(a.to_dense(), b.to_dense())
        assert a.crow_indices().dtype == a.col_indices().dtype == torch.int32
        assert a.values().dtype == torch.float32
    # what would not pay is declined, as from_dense declines it; inconsistent arrays are an error
    assert SparseRows.from_csr(crow[:11], col[: crow[10]], val[: crow[10]], 100) is None  # too small
    full = SparseRows.from_dense(_mostly_zero(1000, 100, 0.5, seed=5), max_density=1.0).csr
    parts = (full.crow_indices().numpy(), full.col_indices().numpy(), full.values().numpy())
    assert SparseRows.from_csr(*parts, 100) is None  # more than MAX_DENSITY nonzero
    with pytest.raises(ValueError, match="CSR rows end at"):
        SparseRows.from_csr(crow, col[:-1], val[:-1], 100)


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


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(300, 3000),
    d=st.integers(1, 300),
    h=st.integers(1, 160),
    density=st.floats(0.0, MAX_DENSITY),
    seed=st.integers(0, 2**16),
)
def test_the_compiled_weight_gradient_is_torchs_transposed_product(rows, d, h, density, seed):
    x = _mostly_zero(rows, d, density, seed)
    x[::3] = 0.0  # all-zero rows, as dead agents give
    held = SparseRows.from_dense(x, max_density=1.0)
    if held is None:  # too small to hold: nothing to compare
        assert rows * d < MIN_ELEMENTS
        return
    grad = torch.randn(rows, h, generator=torch.Generator().manual_seed(seed + 1))
    ours = transposed_product(held.csr, held.csr_t, grad)
    # the same terms in the same order (rows ascending): equal up to how the CPU fuses multiply-adds
    torch.testing.assert_close(ours, torch.mm(held.csr_t, grad), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ours, x.t() @ grad, rtol=1e-4, atol=1e-4)


def test_the_weight_gradient_over_compacted_live_rows_is_the_full_one():
    x = _mostly_zero(5000, 196, 0.3, seed=4)
    x[torch.rand(5000, generator=torch.Generator().manual_seed(5)) < 0.6] = 0.0
    held = SparseRows.from_dense(x, max_density=1.0)
    index, live = live_rows(held)
    grad = torch.randn(5000, 64, generator=torch.Generator().manual_seed(6))
    compact_grad = torch.cat([grad.index_select(0, index), torch.zeros(1, 64)])
    full = transposed_product(held.csr, held.csr_t, grad)
    compact = transposed_product(live.csr, live.csr_t, compact_grad)
    assert torch.equal(compact, full)  # zero rows add nothing: the same sums in the same order


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
    decoded = make_batch(spec, sparse_rows=True)  # the trainer's batch: rows from the decoder
    assert decoded.sparse_decided and decoded.obs.sparse is not None
    assert torch.equal(decoded.obs.sparse.csr.to_dense(), batch.obs.dense.flatten(0, 1))
    results = {}
    for mode, data in (("off", batch), ("auto", batch), ("decoder", decoded)):
        cfg = replace(METHODS[method], sparse_inputs="off" if mode == "off" else "auto")
        algo = build_algorithm(cfg, spec, "cpu", seed=0)
        losses = [algo.update(data) for _ in range(3)]
        weights = {k: v.clone() for k, v in algo.policy.state_dict().items()}
        results[mode] = losses, weights
    dense_losses, dense_weights = results["off"]
    for mode in ("auto", "decoder"):
        sparse_losses, sparse_weights = results[mode]
        for a, b in zip(dense_losses, sparse_losses):
            assert a.keys() == b.keys()
            for key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), (mode, key)
        for key in dense_weights:
            torch.testing.assert_close(sparse_weights[key], dense_weights[key], rtol=1e-4, atol=1e-5)
        assert np.isfinite(sparse_losses[-1]["loss/critic"])
    # the decoder's rows are the ones the update multiplies: both sparse runs sum the same terms
    for a, b in zip(results["auto"][0], results["decoder"][0]):
        assert a == b


@pytest.mark.parametrize("method", ["QTRAN", "VAST-QTRAN-MetaGrad η=¼"])
def test_warehouse_state_rows_from_the_decoder_give_the_dense_update(method):
    """Warehouse's observations are ~15% nonzero (its decoder emits no rows for them) but its state is
    ~5% nonzero: the decoder emits the state's rows, QTRAN's and VASTNet's first layers multiply them,
    and the update equals the dense one up to float32 rounding."""
    from dataclasses import replace

    spec = make_spec("warehouse-8")
    decoded, plain = make_batch(spec, sparse_rows=True), make_batch(spec)
    assert decoded.sparse_decided and decoded.obs.sparse is None and plain.state_rows is None
    assert decoded.state_rows is not None
    assert torch.equal(decoded.state_rows.csr.to_dense(), plain.state)
    shuffled = make_batch(spec, sparse_rows=True)
    shuffled.state_rows = SparseRows.from_dense(plain.state.flip(0))  # the rows in another order
    results = {}
    for mode, data in (("off", plain), ("auto", decoded), ("poisoned", shuffled)):
        cfg = replace(METHODS[method], sparse_inputs="off" if mode == "off" else "auto")
        algo = build_algorithm(cfg, spec, "cpu", seed=0)
        losses = [algo.update(data) for _ in range(2)]
        results[mode] = losses, {k: v.clone() for k, v in algo.operator.state_dict().items()}
    (dense_losses, dense_weights), (sparse_losses, sparse_weights) = results["off"], results["auto"]
    for a, b in zip(dense_losses, sparse_losses):
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), key
    for key in dense_weights:
        torch.testing.assert_close(sparse_weights[key], dense_weights[key], rtol=1e-4, atol=1e-5)
    # the update really multiplies the held rows: rows of other steps train other weights
    poisoned_weights = results["poisoned"][1]
    assert any(not torch.allclose(poisoned_weights[k], dense_weights[k], rtol=1e-3) for k in dense_weights)
    # `sparse_inputs off` drops the held rows (as bfloat16 products do): the update is the plain one
    off = build_algorithm(replace(METHODS[method], sparse_inputs="off"), spec, "cpu", seed=0)
    assert [off.update(shuffled) for _ in range(2)] == dense_losses
