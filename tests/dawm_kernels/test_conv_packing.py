"""The native copies of bfloat16 GEMM convolutions against diffusion_wm's PyTorch ones: the
same bits (rounding to nearest even, zero padding; NaN stays NaN), so the same training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dawm_kernels import _core
from dawm_kernels.torch_ops import BF16_CONV_PACKING, conv_columns_bf16, ncl_from_bf16_rows
from diffusion_wm import gemm_conv
from diffusion_wm.gemm_conv import Bf16Packing, conv1d_gemm

BF16 = torch.bfloat16


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int16) if t.dtype == BF16 else t.view(torch.int32)


@pytest.mark.parametrize("shape", [(4, 3, 8, 5), (3, 64, 4, 5), (2, 7, 6, 1), (5, 8, 1, 3)])
def test_columns_are_bit_identical_to_pytorch(shape):
    n, c, length, k = shape
    x = torch.randn(n, c, length, generator=torch.Generator().manual_seed(1)) * 1e3
    x[0, 0, 0] = float("nan")
    x[-1, -1, -1] = 1 + 2**-8  # a tie: rounds to even
    got, want = conv_columns_bf16(x, k), gemm_conv._columns(x, k, BF16)
    assert got.shape == want.shape == (n * length, k * c) and got.dtype == BF16
    nan = want.isnan()
    assert nan.any() and torch.equal(got.isnan(), nan)  # NaN bits differ between torch's paths
    assert torch.equal(_bits(got)[~nan], _bits(want)[~nan])


def test_rows_to_ncl_are_bit_identical_to_pytorch():
    rows = torch.randn(5 * 8, 12, generator=torch.Generator().manual_seed(2)).to(BF16)
    got, want = ncl_from_bf16_rows(rows, 5, 8), gemm_conv._to_ncl(rows, 5, 8)
    assert got.shape == (5, 12, 8) and got.is_contiguous()
    assert torch.equal(_bits(got), _bits(want))


def test_a_convolution_with_native_copies_gives_the_same_bits():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(16, 32, 8, generator=gen, requires_grad=True)
    w = (torch.randn(48, 32, 5, generator=gen) * 0.1).requires_grad_()
    b = torch.randn(48, generator=gen, requires_grad=True)
    dy = torch.randn(16, 48, 8, generator=gen)
    calls = []

    def counted(fn):
        return lambda *a: calls.append(fn.__name__) or fn(*a)

    native = Bf16Packing(*(counted(fn) for fn in BF16_CONV_PACKING))
    results = []
    for packing in (None, native):
        for t in (x, w, b):
            t.grad = None
        y = conv1d_gemm(x, w, b, BF16, packing)
        y.backward(dy)
        results.append([y.detach(), x.grad, w.grad, b.grad])
    # forward and backward each built columns and went back to (N, C, L) natively
    assert sorted(calls) == ["conv_columns_bf16"] * 2 + ["ncl_from_bf16_rows"] * 2
    for got, want in zip(*results, strict=True):
        assert torch.equal(got, want)


def test_bad_arrays_are_refused():
    x = torch.zeros(2, 3, 4).numpy()
    cols = torch.zeros(8, 15, dtype=torch.uint16).numpy()
    with pytest.raises(ValueError, match="k must be odd"):
        _core.conv_columns_bf16(x, 4, cols, 1)
    with pytest.raises(ValueError, match="cols must be a writable array of the right size"):
        _core.conv_columns_bf16(x, 3, torch.zeros(8, 10, dtype=torch.uint16).numpy(), 1)
    with pytest.raises(ValueError, match="uint16"):
        _core.conv_columns_bf16(x, 5, torch.zeros(8, 15).numpy(), 1)
    out = torch.zeros(2, 3, 4).numpy()
    with pytest.raises(ValueError, match="float32 array of shape \\(N, C, L\\)"):
        _core.ncl_from_bf16_rows(cols, torch.zeros(2, 3).numpy(), 1)
    with pytest.raises(ValueError, match="rows has the wrong size"):
        _core.ncl_from_bf16_rows(torch.zeros(8, 4, dtype=torch.uint16).numpy(), out, 1)
    with pytest.raises(ValueError, match="rows must be a C-contiguous uint16 array"):
        _core.ncl_from_bf16_rows(torch.zeros(3, 8, dtype=torch.uint16).numpy().T, out, 1)
    shared = np.zeros(2 * 3 * 4 * 5, dtype=np.float32)  # cols written over x itself
    with pytest.raises(ValueError, match="must not overlap the input"):
        _core.conv_columns_bf16(shared[:24].reshape(2, 3, 4), 5, shared.view(np.uint16)[:120], 1)
    read_only = torch.zeros(2, 3, 4).numpy()
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="out must be a writable array"):
        _core.ncl_from_bf16_rows(torch.zeros(8, 3, dtype=torch.uint16).numpy(), read_only, 1)
