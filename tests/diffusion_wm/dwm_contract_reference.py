"""An independent implementation of docs/engine_contract.md, written from the document with
functional ops and the exported weights only: what the native engine must compute."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _w(weights: dict[str, np.ndarray], name: str) -> torch.Tensor:
    return torch.from_numpy(weights[name])


def _linear(weights, prefix, x):
    return F.linear(x, _w(weights, f"{prefix}.weight"), _w(weights, f"{prefix}.bias"))


def _mlp(weights, prefix, x):
    return _linear(weights, f"{prefix}.2", F.mish(_linear(weights, f"{prefix}.0", x)))


def _conv(weights, prefix, x, **kw):
    return F.conv1d(x, _w(weights, f"{prefix}.weight"), _w(weights, f"{prefix}.bias"), **kw)


def _gn(weights, prefix, x):
    return F.group_norm(x, 8, _w(weights, f"{prefix}.weight"), _w(weights, f"{prefix}.bias"), 1e-5)


def _block(weights, prefix, x, emb):
    h = F.mish(_gn(weights, f"{prefix}.norm0", _conv(weights, f"{prefix}.conv0", x, padding=2)))
    h = h + _linear(weights, f"{prefix}.emb", F.mish(emb))[:, :, None]
    h = F.mish(_gn(weights, f"{prefix}.norm1", _conv(weights, f"{prefix}.conv1", h, padding=2)))
    skip = _conv(weights, f"{prefix}.skip", x) if f"{prefix}.skip.weight" in weights else x
    return h + skip


def forward(weights, config, x, t, c, g, use_guide):
    """The contract's TemporalUNet forward: x (B, L, x_dim) → prediction (B, L, x_dim)."""
    dim, n = config["dim"], len(config["dim_mults"])
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / (half - 1))
    arg = t.float()[:, None] * freqs
    emb = _mlp(weights, "time_mlp", torch.cat([arg.sin(), arg.cos()], 1))
    if config["context_dim"]:
        emb = emb + _mlp(weights, "context_mlp", c)
    if config["guide_dim"]:
        emb = emb + _mlp(weights, "guide_mlp", g) * use_guide.float()[:, None]
    length = x.shape[1]
    mult = 2 ** (n - 1)
    padded = -(-length // mult) * mult
    h = F.pad(x.transpose(1, 2), (0, padded - length))
    skips = []
    for i in range(n):
        h = _block(weights, f"down.{i}.block0", h, emb)
        h = _block(weights, f"down.{i}.block1", h, emb)
        skips.append(h)
        if i < n - 1:
            h = _conv(weights, f"down.{i}.downsample", h, stride=2, padding=1)
    h = _block(weights, "mid.block1", _block(weights, "mid.block0", h, emb), emb)
    for j, i in enumerate(range(n - 2, -1, -1)):
        h = torch.cat([h, skips[i + 1]], 1)
        h = _block(weights, f"up.{j}.block0", h, emb)
        h = _block(weights, f"up.{j}.block1", h, emb)
        h = F.conv_transpose1d(
            h,
            _w(weights, f"up.{j}.upsample.weight"),
            _w(weights, f"up.{j}.upsample.bias"),
            stride=2,
            padding=1,
        )
    h = F.mish(_gn(weights, "final.norm", _conv(weights, "final.conv", h, padding=2)))
    out = _conv(weights, "final.out", h)
    return out[:, :, :length].transpose(1, 2)


def ddim(weights, config, noise, c, g, guidance, mask=None, known=None):
    """The contract's guided DDIM loop in normalized space, driven by the exported table."""
    x = noise.clone()
    if mask is not None:
        x = torch.where(mask, known, x)
    b = x.shape[0]
    for t, a, a_prev in zip(
        weights["ddim.t"], weights["ddim.alpha"], weights["ddim.alpha_prev"], strict=True
    ):
        a, a_prev = torch.tensor(a), torch.tensor(a_prev)
        tt = torch.full((b,), int(t))
        if config["guide_dim"] and guidance != 1.0:
            p_c = forward(weights, config, x, tt, c, g, torch.ones(b))
            p_u = forward(weights, config, x, tt, c, g, torch.zeros(b))
            p = p_u + guidance * (p_c - p_u)
        else:
            p = forward(weights, config, x, tt, c, g, torch.ones(b))
        x0 = (x - (1 - a).sqrt() * p) / a.sqrt() if config["prediction"] == "epsilon" else p
        x0 = x0.clamp(-config["clip"], config["clip"])
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        if mask is not None:
            x = torch.where(mask, known, x)
    return x
