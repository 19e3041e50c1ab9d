"""Diffuser-style temporal U-Net over the sequence axis, conditioned on a context and a guide.

The layout and parameter names follow docs/engine_contract.md exactly: the native engine loads
these weights by name and must reproduce this forward pass to 1e-4.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ._fields import COUNT, Valid, check_fields
from .gemm_conv import Bf16Packing, conv1d_gemm

PREDICTIONS = ("epsilon", "x0")


@dataclass(frozen=True)
class UNetConfig:
    """Shape and width of a TemporalUNet.

    Defaults: dim 32, mults (1, 2, 4) — a CPU-sized Diffuser U-Net (Diffuser uses
    (1, 2, 4, 8); REFERENCES.md measures dim 32 ~4x faster than dim 64 on 2 cores).
    """

    x_dim: int
    length: int
    context_dim: int = 0
    guide_dim: int = 0
    dim: int = 32
    dim_mults: tuple[int, ...] = (1, 2, 4)
    prediction: str = "x0"

    VALID: ClassVar[dict[str, Valid]] = {
        "x_dim": COUNT,
        "length": COUNT,
        "context_dim": Valid("int", lo=0, why="0 means no context"),
        "guide_dim": Valid("int", lo=0, why="0 means no guide"),
        "dim": Valid("int", lo=8, why="a multiple of 8, for GroupNorm(8)"),
        "dim_mults": Valid("int", lo=1, many=True),
        "prediction": Valid("str", choices=PREDICTIONS),
    }

    def __post_init__(self) -> None:
        check_fields(self)  # every field of a subclass too: VALID is looked up on its class
        if self.dim % 8:
            raise ValueError(
                f"{type(self).__name__}.dim must be a multiple of 8 (GroupNorm(8)), got {self.dim}"
            )

    @property
    def n_down(self) -> int:
        return len(self.dim_mults) - 1

    @property
    def padded_length(self) -> int:
        """Sequence length the network actually runs on (padded to a multiple of 2**n_down)."""
        return padded_length(self.length, self.n_down)


def padded_length(length: int, n_down: int) -> int:
    mult = 2**n_down
    return -(-length // mult) * mult


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style embedding of the diffusion step (contract: half-1 in the denominator)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / (half - 1)
    )
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    return torch.cat([args.sin(), args.cos()], dim=-1)


def _mlp(in_dim: int, dim: int) -> nn.Sequential:
    # Indices 0 and 2 are the Linear layers' names in the exported state_dict.
    return nn.Sequential(nn.Linear(in_dim, 4 * dim), nn.Mish(), nn.Linear(4 * dim, dim))


NormMishKernel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int, float], torch.Tensor]


class GroupNormMish(nn.GroupNorm):
    """Mish(GroupNorm(x)): a GroupNorm (same parameters and names) whose output goes through
    Mish. `kernel`, when set, computes the pair in one call with the same signature as
    `F.mish(F.group_norm(x, groups, weight, bias, eps))`, e.g. a fused native one."""

    kernel: NormMishKernel | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel is not None:
            return self.kernel(x, self.weight, self.bias, self.num_groups, self.eps)
        return F.mish(super().forward(x))


class SameConv1d(nn.Conv1d):
    """A stride-1 Conv1d padded to keep the length. `gemm_dtype`, when set, computes it on
    CPU float32 input as one GEMM in that dtype (gemm_conv.conv1d_gemm, its bfloat16 copies
    by `gemm_packing` when set); same parameters."""

    gemm_dtype: torch.dtype | None = None
    gemm_packing: Bf16Packing | None = None

    def __init__(self, in_ch: int, out_ch: int, kernel: int) -> None:
        if kernel % 2 == 0:
            raise ValueError(f"SameConv1d needs an odd kernel to keep the length, got {kernel}")
        super().__init__(in_ch, out_ch, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gemm_dtype is not None and x.device.type == "cpu" and x.dtype == torch.float32:
            return conv1d_gemm(x, self.weight, self.bias, self.gemm_dtype, self.gemm_packing)
        return super().forward(x)


class ResidualBlock(nn.Module):
    """Two conv(k5)-GroupNorm(8)-Mish layers with the embedding added in between."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int) -> None:
        super().__init__()
        self.conv0 = SameConv1d(in_ch, out_ch, 5)
        self.norm0 = GroupNormMish(8, out_ch)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.conv1 = SameConv1d(out_ch, out_ch, 5)
        self.norm1 = GroupNormMish(8, out_ch)
        self.skip = SameConv1d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor, emb_act: torch.Tensor) -> torch.Tensor:
        """`emb_act` is Mish(emb), computed once per forward and shared by all blocks."""
        h = self.norm0(self.conv0(x))
        h = h + self.emb(emb_act)[:, :, None]
        h = self.norm1(self.conv1(h))
        return h + (self.skip(x) if self.skip is not None else x)


class _Level(nn.Module):
    def __init__(
        self, in_ch: int, out_ch: int, emb_dim: int, resample: nn.Module | None, name: str
    ):
        super().__init__()
        self.block0 = ResidualBlock(in_ch, out_ch, emb_dim)
        self.block1 = ResidualBlock(out_ch, out_ch, emb_dim)
        if resample is not None:
            self.add_module(name, resample)
        self.resample = name if resample is not None else None

    def forward(self, x: torch.Tensor, emb_act: torch.Tensor) -> torch.Tensor:
        return self.block1(self.block0(x, emb_act), emb_act)


class _Final(nn.Module):
    def __init__(self, dim: int, x_dim: int) -> None:
        super().__init__()
        self.conv = SameConv1d(dim, dim, 5)
        self.norm = GroupNormMish(8, dim)
        self.out = SameConv1d(dim, x_dim, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(self.conv(h)))


class TemporalUNet(nn.Module):
    """Predicts ε (or x0) for a noisy sequence x (B, L, x_dim) at diffusion step t.

    Context c and guide g are embedded by MLPs and summed with the step embedding. The guide's
    embedding is multiplied by `use_guide` so the unconditional pass of classifier-free guidance
    sees a zero guide embedding. Any length L works: the sequence is zero-padded at the end to a
    multiple of 2**n_down and the output cropped back to L.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.dim
        dims = [config.x_dim] + [dim * m for m in config.dim_mults]
        pairs = list(itertools.pairwise(dims))
        n = len(pairs)
        self.time_mlp = _mlp(dim, dim)
        self.context_mlp = _mlp(config.context_dim, dim) if config.context_dim else None
        self.guide_mlp = _mlp(config.guide_dim, dim) if config.guide_dim else None
        self.down = nn.ModuleList(
            _Level(
                c_in,
                c_out,
                dim,
                nn.Conv1d(c_out, c_out, 3, stride=2, padding=1) if i < n - 1 else None,
                "downsample",
            )
            for i, (c_in, c_out) in enumerate(pairs)
        )
        mid = dims[-1]
        self.mid = _Level(mid, mid, dim, None, "")
        self.up = nn.ModuleList(
            _Level(
                2 * c_out,
                c_in,
                dim,
                nn.ConvTranspose1d(c_in, c_in, 4, stride=2, padding=1),
                "upsample",
            )
            for c_in, c_out in reversed(pairs[1:])
        )
        self.final = _Final(dim, config.x_dim)

    def set_norm_mish_kernel(self, kernel: NormMishKernel | None) -> None:
        """Compute every Mish(GroupNorm(·)) pair with `kernel` (None: PyTorch's two ops), e.g.
        `dawm_kernels.torch_ops.group_norm_mish`, about 3× faster on CPU (docs/performance.md).
        Weights, outputs and gradients stay the same to float rounding."""
        for module in self.modules():
            if isinstance(module, GroupNormMish):
                module.kernel = kernel

    def set_conv_gemm_dtype(self, dtype: torch.dtype | None) -> None:
        """Compute the stride-1 convolutions (all but the resampling ones) as GEMMs in
        `dtype` on CPU (None: PyTorch's conv1d). With bfloat16 and the native copies the quick
        network's training step ran 1.9x float32 eager on one AMX thread; it changes the
        numbers by bfloat16 rounding (docs/performance.md)."""
        for module in self.modules():
            if isinstance(module, SameConv1d):
                module.gemm_dtype = dtype

    def set_conv_packing(self, packing: Bf16Packing | tuple[Callable, Callable] | None) -> None:
        """Do the copies of bfloat16 GEMM convolutions with `packing` (a gemm_conv.Bf16Packing
        or a pair of its functions, e.g. dawm_kernels.torch_ops.BF16_CONV_PACKING; None:
        PyTorch's ops). Same bits either way."""
        packing = None if packing is None else Bf16Packing(*packing)
        for module in self.modules():
            if isinstance(module, SameConv1d):
                module.gemm_packing = packing

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor | None = None,
        guide: torch.Tensor | None = None,
        use_guide: torch.Tensor | None = None,
    ) -> torch.Tensor:
        cfg = self.config
        length = x.shape[1]
        emb = self.time_mlp(sinusoidal_embedding(t, cfg.dim).to(x.dtype))
        if self.context_mlp is not None:
            emb = emb + self.context_mlp(context)
        if self.guide_mlp is not None:
            g_emb = self.guide_mlp(guide)
            if use_guide is not None:
                g_emb = g_emb * use_guide.to(g_emb.dtype)[:, None]
            emb = emb + g_emb
        emb_act = F.mish(emb)

        h = x.transpose(1, 2)
        pad = padded_length(length, cfg.n_down) - length
        if pad:
            h = F.pad(h, (0, pad))
        skips = []
        for level in self.down:
            h = level(h, emb_act)
            skips.append(h)
            if level.resample is not None:
                h = level.downsample(h)
        h = self.mid(h, emb_act)
        for level in self.up:
            h = level(torch.cat([h, skips.pop()], dim=1), emb_act)
            h = level.upsample(h)
        out = self.final(h)
        if pad:
            out = out[:, :, :length]
        return out.transpose(1, 2)
