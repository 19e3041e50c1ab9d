"""Normalizer: x lands in [−1, 1] and round-trips; c/g standardized; constant columns safe."""

import numpy as np
import torch
from diffusion_wm import Normalizer
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

finite = st.floats(-1e4, 1e4, width=32)


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 6), st.integers(1, 5), st.integers(1, 3)),
        elements=finite,
    )
)
def test_x_maps_into_unit_range_and_back(x):
    norm = Normalizer.fit(x, np.zeros((len(x), 0)), np.zeros((len(x), 0))).torch("cpu")
    xn = norm.x(torch.from_numpy(x))
    assert xn.min() >= -1 - 1e-5 and xn.max() <= 1 + 1e-5
    span = np.maximum(x.max(axis=(0, 1)) - x.min(axis=(0, 1)), 1.0)
    np.testing.assert_allclose(norm.x_inverse(xn).numpy(), x, atol=1e-5 * span.max() + 1e-4)


def test_context_and_guide_are_standardized_and_constant_columns_do_not_divide_by_zero():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(100, 4, 1)), np.full((100, 4, 1), 7.0)], -1)
    c = np.stack([rng.normal(3, 2, 100), np.full(100, -1.0)], -1).astype(np.float32)
    g = rng.normal(10, 5, (100, 1)).astype(np.float32)
    stats = Normalizer.fit(x.astype(np.float32), c, g)
    norm = stats.torch("cpu")
    cn = norm.context(torch.from_numpy(c)).numpy()
    np.testing.assert_allclose(cn[:, 0].mean(), 0, atol=1e-5)
    np.testing.assert_allclose(cn[:, 0].std(), 1, atol=1e-4)
    assert np.all(np.isfinite(cn)) and np.all(cn[:, 1] == 0)
    np.testing.assert_allclose(norm.guide(torch.from_numpy(g)).numpy().std(), 1, atol=1e-4)
    xn = norm.x(torch.from_numpy(x.astype(np.float32)))
    assert torch.isfinite(xn).all() and (xn[..., 1] == -1).all()  # constant column → lower bound
    assert stats.x_lo[1] == stats.x_hi[1] == 7.0  # stored as measured; floored only when used
    assert set(stats.arrays()) == {f"normalizer.{n}" for n in
                                   ("x_lo", "x_hi", "c_mean", "c_std", "g_mean", "g_std")}  # fmt: skip
