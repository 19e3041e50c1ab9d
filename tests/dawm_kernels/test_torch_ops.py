"""The native Mish(GroupNorm) training kernel against PyTorch's two ops, and in a training run.

Shapes cover the quick preset's (C/G·L = 64 floats a group: whole vectors), groups that end
in a partial vector (3·5 = 15 floats), one-position sequences and large inputs (Mish's
linear range). Forward values and all three gradients must match PyTorch's float32 autograd
to float rounding (absolute 1e-5 on unit-size values, relative 1e-4 on the summed weight
gradients), and a world model trained with the kernel must follow the same loss curve.
"""

from __future__ import annotations

import dawm_kernels as dk
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from dawm_kernels import _core
from dawm_kernels.torch_ops import group_norm_mish
from diffusion_wm import DiffusionWorldModel, WorldModelConfig
from diffusion_wm.unet import GroupNormMish

# (groups of 2 values are left out: their normalized output is ±1 whatever x, so the true
# gradient is 0 and both float32 implementations return rounding noise of different sizes)
SHAPES = [(256, 64, 8, 8), (64, 128, 4, 8), (5, 24, 5, 8), (7, 64, 1, 8), (3, 12, 7, 4)]


def _inputs(n, c, length, scale=3.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, c, length, generator=gen) * scale + 1.0).requires_grad_()
    w = (torch.randn(c, generator=gen) + 1.0).requires_grad_()
    b = torch.randn(c, generator=gen).requires_grad_()
    up = torch.randn(n, c, length, generator=gen)
    return x, w, b, up


def _forward_and_grads(fn, x, w, b, up):
    out = fn(x, w, b)
    return (out, *torch.autograd.grad(out, (x, w, b), up))


@pytest.mark.parametrize(("n", "c", "length", "groups"), SHAPES)
@pytest.mark.parametrize("threads", [1, 2])
def test_matches_pytorch_forward_and_backward(n, c, length, groups, threads):
    x, w, b, up = _inputs(n, c, length)
    ref = _forward_and_grads(lambda *a: F.mish(F.group_norm(a[0], groups, a[1], a[2])), x, w, b, up)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = _forward_and_grads(lambda *a: group_norm_mish(*a, groups), x, w, b, up)
    finally:
        torch.set_num_threads(before)
    for name, g, r in zip(("out", "dx", "dweight", "dbias"), got, ref, strict=True):
        assert g.shape == r.shape
        tol = 1e-4 * r.abs().max().item() + 1e-5  # weight grads sum n·L terms
        assert (g - r).abs().max().item() < tol, name


def test_large_inputs_and_mish_linear_range():
    x, w, b, up = _inputs(32, 16, 8, scale=50.0)
    with torch.no_grad():
        w.mul_(20.0)  # normalized values reach ±60: e^y saturates, Mish(y) = y
    ref = _forward_and_grads(lambda *a: F.mish(F.group_norm(a[0], 8, a[1], a[2])), x, w, b, up)
    got = _forward_and_grads(lambda *a: group_norm_mish(*a, 8), x, w, b, up)
    for g, r in zip(got, ref, strict=True):
        assert torch.isfinite(g).all()
        assert (g - r).abs().max().item() < 1e-4 * r.abs().max().item() + 1e-5


@pytest.mark.parametrize("isa", dk.supported_isas().split(","))
@pytest.mark.parametrize(("n", "c", "length", "groups"), SHAPES)
def test_every_instruction_set_matches_pytorch(isa, n, c, length, groups):
    """The core called directly, once per ISA variant this CPU runs (vector widths 16, 8, 4:
    each ends groups in its own partial vectors), with a non-default eps."""
    x, w, b, up = _inputs(n, c, length)
    eps = 1e-3
    ref = _forward_and_grads(
        lambda *a: F.mish(F.group_norm(a[0], groups, a[1], a[2], eps)), x, w, b, up
    )
    xa, wa, ba, ua = (t.detach().numpy() for t in (x, w, b, up))
    out, dx = np.empty_like(xa), np.empty_like(xa)
    mean, rstd = np.empty(n * groups, np.float32), np.empty(n * groups, np.float32)
    dw, db = np.empty_like(wa), np.empty_like(ba)
    _core.group_norm_mish_forward(xa, wa, ba, groups, eps, out, mean, rstd, 2, isa)
    _core.group_norm_mish_backward(ua, xa, wa, ba, mean, rstd, groups, dx, dw, db, 2, isa)
    for g, r in zip((out, dx, dw, db), ref, strict=True):
        r = r.detach().numpy()
        assert np.abs(g - r).max() < 1e-4 * np.abs(r).max() + 1e-5


@pytest.mark.parametrize("threads", [1, 2])
def test_same_thread_count_same_bits(threads):
    x, w, b, up = _inputs(64, 32, 8)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        first = _forward_and_grads(lambda *a: group_norm_mish(*a, 8), x, w, b, up)
        second = _forward_and_grads(lambda *a: group_norm_mish(*a, 8), x, w, b, up)
    finally:
        torch.set_num_threads(before)
    for f, s in zip(first, second, strict=True):
        assert torch.equal(f, s)


def test_double_backward_refuses_instead_of_returning_zeros():
    x, w, b, _ = _inputs(4, 16, 8)
    out = group_norm_mish(x, w, b, 8)
    with pytest.raises(RuntimeError, match="group_norm_mish has no double backward"):
        torch.autograd.grad(out.sum(), x, create_graph=True)  # a gradient penalty's first step


def test_other_inputs_take_pytorchs_ops():
    x, w, b, _ = _inputs(4, 16, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = torch.nn.functional.conv1d(x, torch.eye(16)[:, :, None])  # bf16 under autocast
        got = group_norm_mish(h, w, b, 8)
        ref = F.mish(F.group_norm(h, 8, w, b))
    assert torch.equal(got, ref)
    flat = x.detach()[:, :, 0]  # (N, C): not the (N, C, L) layout of the native path
    assert torch.equal(group_norm_mish(flat, w, b, 8), F.mish(F.group_norm(flat, 8, w, b)))
    plain = x.detach()  # no affine parameters
    assert torch.equal(group_norm_mish(plain, None, None, 8), F.mish(F.group_norm(plain, 8)))


def test_refuses_bad_groups_and_parameters():
    x, w, b, _ = _inputs(2, 16, 4)
    with pytest.raises(ValueError, match="num_groups=3 must divide the 16 channels"):
        group_norm_mish(x, w, b, 3)
    with pytest.raises(ValueError, match=r"weight must be a CPU float32 tensor of shape \(16,\)"):
        group_norm_mish(x, w[:8], b, 8)
    with pytest.raises(ValueError, match="bias must be a CPU float32"):
        group_norm_mish(x, w, b.double(), 8)


def test_core_refuses_arrays_it_could_not_write_in_place():
    """An output pybind would have to convert (here a strided view) must be refused: the
    kernel would write into a temporary copy and leave the caller's array untouched."""
    x, w, b, _ = (t.detach().numpy() for t in _inputs(2, 16, 4))
    big = np.zeros((2, 16, 8), np.float32)
    stats = np.empty(16, np.float32)
    with pytest.raises(ValueError, match="out must be a C-contiguous float32 array"):
        _core.group_norm_mish_forward(x, w, b, 8, 1e-5, big[:, :, ::2], stats, stats, 1, "auto")
    with pytest.raises(ValueError, match="groups must divide the channels"):
        _core.group_norm_mish_forward(x, w, b, 3, 1e-5, np.empty_like(x), stats, stats, 1, "auto")


def test_world_model_trains_the_same_with_the_kernel():
    """Same seed, data and batches: the loss curves agree to float rounding over 40 steps."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8, 6)).astype(np.float32)
    c = rng.normal(size=(512, 5)).astype(np.float32)
    g = rng.normal(size=(512, 1)).astype(np.float32)
    cfg = WorldModelConfig(x_dim=6, length=8, context_dim=5, guide_dim=1, dim=16, dim_mults=(1, 2))
    losses = []
    calls = []

    def counting_kernel(*args):
        calls.append(1)
        return group_norm_mish(*args)

    for kernel in (None, counting_kernel):
        torch.manual_seed(0)
        model = DiffusionWorldModel(cfg, device="cpu")
        model.set_norm_mish_kernel(kernel)
        hist = model.fit(x, c, g, steps=40, batch_size=32, progress=False, log_every=1, seed=3)
        losses.append(np.array(hist.loss))
    modules = sum(isinstance(m, GroupNormMish) for m in model.net.modules())
    # 8 residual blocks (2 down levels, mid, 1 up level; 2 each) × 2 pairs + the final one
    assert modules == 17 and len(calls) >= 40 * modules  # every pair of every step, native
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4, atol=1e-6)
    assert losses[0][-5:].mean() < losses[0][:5].mean()  # and it learned
