"""conv1d_gemm: F.conv1d's stride-1 "same" convolution as one GEMM in a chosen dtype."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from diffusion_wm import TemporalUNet, UNetConfig
from diffusion_wm.gemm_conv import conv1d_gemm


def _case(n: int, c: int, o: int, length: int, k: int, bias: bool = True, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, length, generator=g, requires_grad=True)
    w = (torch.randn(o, c, k, generator=g) / (c * k) ** 0.5).requires_grad_()
    b = torch.randn(o, generator=g, requires_grad=True) if bias else None
    dy = torch.randn(n, o, length, generator=g)
    return x, w, b, dy


def _grads(fn, x, w, b, dy):
    for t in (x, w, b):
        if t is not None:
            t.grad = None
    y = fn(x, w, b)
    y.backward(dy)
    return [y.detach()] + [t.grad.clone() for t in (x, w, b) if t is not None]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm())


@pytest.mark.parametrize(
    "shape", [(4, 3, 5, 8, 5), (3, 16, 8, 4, 5), (2, 7, 4, 6, 1), (5, 8, 8, 1, 3), (2, 4, 6, 9, 3)]
)
@pytest.mark.parametrize("bias", [True, False])
def test_float32_gemm_matches_conv1d(shape, bias):
    *dims, k = shape
    x, w, b, dy = _case(*dims, k, bias=bias)
    want = _grads(lambda x, w, b: F.conv1d(x, w, b, padding=k // 2), x, w, b, dy)
    got = _grads(lambda x, w, b: conv1d_gemm(x, w, b, torch.float32), x, w, b, dy)
    for g, r in zip(got, want, strict=True):
        assert g.dtype == torch.float32 and g.shape == r.shape
        torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-5)


def test_bfloat16_gemm_is_within_bfloat16_rounding():
    x, w, b, dy = _case(16, 64, 64, 8, 5)
    want = _grads(lambda x, w, b: F.conv1d(x, w, b, padding=2), x, w, b, dy)
    got = _grads(lambda x, w, b: conv1d_gemm(x, w, b, torch.bfloat16), x, w, b, dy)
    errors = [_rel(g, r) for g, r in zip(got, want, strict=True)]
    assert all(g.dtype == torch.float32 for g in got)
    # bfloat16 keeps 8 bits: a relative error near 2^-9 per value, not zero (it ran in bf16);
    # the bias gradient too sums the bfloat16-rounded output gradient (in float32)
    assert all(1e-4 < e < 1e-2 for e in errors), errors


def test_even_kernels_and_other_inputs_are_refused():
    with pytest.raises(ValueError, match="odd kernel"):
        conv1d_gemm(torch.zeros(1, 2, 4), torch.zeros(3, 2, 4), None, torch.float32)
    with pytest.raises(ValueError, match="float32 \\(N, C, L\\)"):
        conv1d_gemm(torch.zeros(1, 2, 4, dtype=torch.float64), torch.zeros(3, 2, 3), None,
                    torch.float32)  # fmt: skip


def test_unet_with_gemm_convolutions_keeps_its_function_and_parameters():
    torch.manual_seed(0)
    net = TemporalUNet(UNetConfig(x_dim=5, length=8, context_dim=3, guide_dim=1, dim=16,
                                  dim_mults=(1, 2)))  # fmt: skip
    names = [n for n, _ in net.named_parameters()]
    x, t = torch.randn(6, 8, 5), torch.randint(0, 5, (6,))
    c, g = torch.randn(6, 3), torch.randn(6, 1)
    want = net(x, t, c, g)
    net.set_conv_gemm_dtype(torch.float32)
    torch.testing.assert_close(net(x, t, c, g), want, atol=1e-5, rtol=1e-5)
    net.set_conv_gemm_dtype(torch.bfloat16)
    assert 1e-4 < _rel(net(x, t, c, g), want) < 2e-2
    net.set_conv_gemm_dtype(None)
    torch.testing.assert_close(net(x, t, c, g), want, atol=0, rtol=0)
    assert [n for n, _ in net.named_parameters()] == names


def test_only_the_gradients_asked_for_are_computed():
    x, w, b, dy = _case(3, 4, 5, 6, 3)
    x.requires_grad_(False)
    conv1d_gemm(x, w, b, torch.float32).backward(dy)
    ref_w = w.grad.clone()
    w.grad = None
    F.conv1d(x, w, b, padding=1).backward(dy)
    assert x.grad is None
    torch.testing.assert_close(ref_w, w.grad, atol=1e-5, rtol=1e-5)


def test_an_even_same_convolution_is_refused():
    from diffusion_wm.unet import SameConv1d

    with pytest.raises(ValueError, match="odd kernel"):
        SameConv1d(2, 3, 4)
