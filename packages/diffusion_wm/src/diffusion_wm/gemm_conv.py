"""A stride-1 "same" Conv1d computed as one GEMM in a chosen dtype (bfloat16 on CPUs).

Why: on a CPU with AMX a bfloat16 GEMM of the U-Net's sizes runs about 5x the float32 rate,
but oneDNN's bfloat16 conv1d only about 1.1x its float32 one (docs/performance.md). Here
the input is copied once into a zero-padded, channels-last buffer, where the k taps around
position l are one contiguous window of k*C values; the column matrix is then a single
strided copy of those windows, and forward, input gradient and weight gradient are one
GEMM each. The GEMMs accumulate in float32 and round their outputs to `dtype`; what leaves
this function (outputs, gradients) is float32 again. PyTorch does the two transposing copies
at a fraction of memory speed on these shapes; a `Bf16Packing` (dawm_kernels'
BF16_CONV_PACKING) does them natively for bfloat16.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch.autograd.function import once_differentiable


class Bf16Packing(NamedTuple):
    """Native versions of conv1d_gemm's two copies for bfloat16 GEMMs: `columns(x, k)` as
    _columns(x, k, torch.bfloat16), `to_ncl(rows, n, length)` as _to_ncl."""

    columns: Callable[[torch.Tensor, int], torch.Tensor]
    to_ncl: Callable[[torch.Tensor, int, int], torch.Tensor]


def _columns(x: torch.Tensor, k: int, dtype: torch.dtype) -> torch.Tensor:
    """(N, C, L) -> (N*L, k*C): row (n, l) holds x[n, :, l - k//2 .. l + k//2] tap by tap,
    zeros outside the sequence."""
    n, c, length = x.shape
    p = k // 2
    padded = x.new_zeros((n, length + 2 * p, c), dtype=dtype)
    padded[:, p : p + length].copy_(x.transpose(1, 2))
    windows = padded.as_strided((n, length, k * c), ((length + 2 * p) * c, c, 1))
    return windows.reshape(n * length, k * c)


def _to_ncl(rows: torch.Tensor, n: int, length: int) -> torch.Tensor:
    """(N*L, C) rows back to a contiguous float32 (N, C, L) tensor, in one copy."""
    out = rows.new_empty((n, rows.shape[1], length), dtype=torch.float32)
    out.copy_(rows.view(n, length, rows.shape[1]).transpose(1, 2))
    return out


class _GemmConv1d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, dtype, packing):
        n, _, length = x.shape
        out_ch, in_ch, k = weight.shape
        native = packing is not None and dtype == torch.bfloat16
        columns = packing.columns if native else functools.partial(_columns, dtype=dtype)
        to_ncl = packing.to_ncl if native else _to_ncl
        cols = columns(x, k)
        # The weights tap-major and rounded in one copy: (O, k, C), row o = the k*C column order.
        w = weight.new_empty((out_ch, k, in_ch), dtype=dtype).copy_(weight.permute(0, 2, 1))
        wm = w.view(out_ch, k * in_ch)
        y = torch.addmm(bias.to(dtype), cols, wm.t()) if bias is not None else cols @ wm.t()
        ctx.save_for_backward(cols, w)
        ctx.n, ctx.length = n, length
        ctx.columns, ctx.to_ncl = columns, to_ncl
        return to_ncl(y, n, length)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        cols, w = ctx.saved_tensors  # w: the forward's rounded (O, k, C) weights
        out_ch, k, in_ch = w.shape
        dy_cols = ctx.columns(dy, k)  # (N*L, k*O); its centre tap is dy itself
        centre = dy_cols[:, (k // 2) * out_ch : (k // 2 + 1) * out_ch]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx = dw = db = None
        if need_x:  # a correlation of dy with the flipped kernel: taps reversed, (k*O, C)
            taps = torch.arange(k - 1, -1, -1, device=w.device)
            flipped = w.permute(1, 0, 2).index_select(0, taps).view(k * out_ch, in_ch)
            dx = ctx.to_ncl(dy_cols @ flipped, ctx.n, ctx.length)
        if need_w:  # back to (O, C, k) and float32 in one copy
            dw_taps = (centre.t() @ cols).view(out_ch, k, in_ch)
            dw = cols.new_empty((out_ch, in_ch, k), dtype=torch.float32)
            dw.copy_(dw_taps.permute(0, 2, 1))
        if need_b:  # dy as the GEMMs see it
            db = centre.sum(0, dtype=torch.float32)
        return dx, dw, db, None, None


def conv1d_gemm(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    dtype: torch.dtype,
    packing: Bf16Packing | None = None,
) -> torch.Tensor:
    """F.conv1d(x, weight, bias, padding=k // 2) for odd k, with the GEMMs in `dtype`.

    x (N, C, L) and the parameters are float32; the result and the gradients are float32.
    With dtype=torch.float32 it matches F.conv1d to float rounding. `packing` does the copies
    of bfloat16 GEMMs natively (same bits but NaN payloads). Double backward is not
    supported."""
    k = weight.shape[2]
    if k % 2 == 0 or x.dim() != 3 or x.dtype != torch.float32:
        raise ValueError(
            f"conv1d_gemm takes float32 (N, C, L) input and an odd kernel, got {x.dtype} "
            f"{tuple(x.shape)} and kernel {k}: use F.conv1d"
        )
    return _GemmConv1d.apply(x, weight, bias, dtype, packing)


__all__ = ["Bf16Packing", "conv1d_gemm"]
