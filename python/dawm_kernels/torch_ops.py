"""Native training kernels as PyTorch autograd functions (this module, alone, needs torch).

`group_norm_mish(x, weight, bias, num_groups, eps)` equals
`F.mish(F.group_norm(x, num_groups, weight, bias, eps))`, forward and backward, to float
rounding. On CPU float32 tensors of shape (N, C, L) it runs one native pass over memory each
way: the world model's training step's costliest element-wise pair (docs/performance.md).
Other inputs (a GPU, bfloat16 autocast) take PyTorch's two ops, so a network can keep the
kernel set wherever it runs. Plug it into a `diffusion_wm` model with
`model.set_norm_mish_kernel(group_norm_mish)`.

`conv_columns_bf16` and `ncl_from_bf16_rows` are the two copies around the bfloat16 GEMMs of
`diffusion_wm.gemm_conv.conv1d_gemm`, done natively (`BF16_CONV_PACKING` holds both; plug it
in with `model.set_conv_packing(BF16_CONV_PACKING)`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import _core


class _GroupNormMish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, num_groups, eps, threads):
        x = x.detach().contiguous()
        weight, bias = weight.detach().contiguous(), bias.detach().contiguous()
        out = torch.empty_like(x)
        mean = x.new_empty(x.shape[0] * num_groups)
        rstd = torch.empty_like(mean)
        _core.group_norm_mish_forward(
            x.numpy(), weight.numpy(), bias.numpy(), num_groups, eps,
            out.numpy(), mean.numpy(), rstd.numpy(), threads, "auto",
        )  # fmt: skip
        ctx.save_for_backward(x, weight, bias, mean, rstd)
        ctx.num_groups, ctx.threads = num_groups, threads
        return out

    @staticmethod
    def backward(ctx, dout):
        if torch.is_grad_enabled():  # create_graph=True: the native backward builds no graph
            raise RuntimeError(
                "group_norm_mish has no double backward (its gradient is native code): use "
                "F.mish(F.group_norm(...)) where second derivatives are needed"
            )
        x, weight, bias, mean, rstd = ctx.saved_tensors
        dout = dout.contiguous()
        dx, dweight, dbias = torch.empty_like(x), torch.empty_like(weight), torch.empty_like(bias)
        _core.group_norm_mish_backward(
            dout.numpy(), x.numpy(), weight.numpy(), bias.numpy(), mean.numpy(), rstd.numpy(),
            ctx.num_groups, dx.numpy(), dweight.numpy(), dbias.numpy(), ctx.threads, "auto",
        )  # fmt: skip
        return dx, dweight, dbias, None, None, None


def group_norm_mish(
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    num_groups: int,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Mish(GroupNorm(x)) with gradients for x, weight and bias: natively (on torch's intra-op
    thread count) for CPU float32 x of shape (N, C, L) with an affine weight and bias, by
    PyTorch's ops otherwise. First-order gradients only (double backward raises)."""
    native = x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 3
    if not native or weight is None or bias is None:
        return F.mish(F.group_norm(x, num_groups, weight, bias, eps))
    channels = x.shape[1]
    if num_groups < 1 or channels % num_groups:
        raise ValueError(f"num_groups={num_groups} must divide the {channels} channels")
    for name, p in (("weight", weight), ("bias", bias)):
        if p.shape != (channels,) or p.dtype != torch.float32 or p.device.type != "cpu":
            raise ValueError(
                f"{name} must be a CPU float32 tensor of shape ({channels},), "
                f"got {p.dtype} {tuple(p.shape)} on {p.device}"
            )
    return _GroupNormMish.apply(x, weight, bias, num_groups, float(eps), torch.get_num_threads())


def conv_columns_bf16(x: torch.Tensor, k: int) -> torch.Tensor:
    """x (N, C, L) float32 on CPU -> (N·L, k·C) bfloat16 columns of a "same" convolution with
    an odd kernel k: row n·L + l holds x[n, :, l + j - k // 2] for j = 0..k-1, zeros outside."""
    x = x.detach().contiguous()
    n, c, length = x.shape
    cols = torch.empty((n * length, k * c), dtype=torch.bfloat16)
    _core.conv_columns_bf16(x.numpy(), k, cols.view(torch.uint16).numpy(), torch.get_num_threads())
    return cols


def ncl_from_bf16_rows(rows: torch.Tensor, n: int, length: int) -> torch.Tensor:
    """rows (N·L, C) bfloat16 on CPU -> a contiguous float32 (N, C, L) tensor."""
    rows = rows.detach().contiguous()
    out = torch.empty((n, rows.shape[1], length), dtype=torch.float32)
    _core.ncl_from_bf16_rows(rows.view(torch.uint16).numpy(), out.numpy(), torch.get_num_threads())
    return out


BF16_CONV_PACKING = (conv_columns_bf16, ncl_from_bf16_rows)
