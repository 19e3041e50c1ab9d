"""DDIM (the fast path, with classifier-free guidance) and ancestral DDPM (the reference).

Both work in normalized space and return normalized x; DiffusionWorldModel maps to raw units.
The guided step follows docs/engine_contract.md: the native engine reproduces it to 1e-4.
"""

from __future__ import annotations

import numpy as np
import torch

from .schedule import NoiseSchedule
from .unet import TemporalUNet

Inpaint = tuple[torch.Tensor, torch.Tensor]


class _GuidedDenoiser:
    """One guided network evaluation → clipped x0 and the ε consistent with it.

    Prepares the doubled conditioning batch once per sampling call, so every step is a single
    forward over [conditional; unconditional] (the guide's embedding is zeroed in the second
    half), and no per-sample Python work happens inside the loop.
    """

    def __init__(
        self,
        net: TemporalUNet,
        context: torch.Tensor | None,
        guide: torch.Tensor | None,
        guidance: float,
        clip: float,
        batch: int,
        device: torch.device,
    ) -> None:
        cfg = net.config
        self.net = net
        self.guidance = float(guidance)
        self.clip = clip
        self.epsilon = cfg.prediction == "epsilon"
        # Contract: with ω == 1 or no guide only the conditional pass runs; ω == 0 needs only
        # the unconditional one.
        self.both = cfg.guide_dim > 0 and self.guidance not in (0.0, 1.0)
        reps = 2 if self.both else 1
        self.context = context.repeat(reps, 1) if context is not None else None
        self.guide = guide.repeat(reps, 1) if guide is not None else None
        use = torch.ones(reps * batch, device=device)
        if self.both:
            use[batch:] = 0.0
        elif cfg.guide_dim > 0 and self.guidance == 0.0:
            use.zero_()
        self.use_guide = use
        self.t = torch.empty(reps * batch, dtype=torch.int64, device=device)

    def __call__(
        self, x: torch.Tensor, t: int, alpha: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.t.fill_(t)
        inp = torch.cat([x, x]) if self.both else x
        p = self.net(inp, self.t, self.context, self.guide, self.use_guide)
        if self.both:
            p_c, p_u = p.chunk(2)
            p = p_u + self.guidance * (p_c - p_u)
        sa, sb = alpha.sqrt(), (1.0 - alpha).sqrt()
        x0 = (x - sb * p) / sa if self.epsilon else p
        x0 = x0.clamp(-self.clip, self.clip)
        eps = (x - sa * x0) / sb
        return x0, eps


def _check_inputs(
    net: TemporalUNet,
    context: torch.Tensor | None,
    guide: torch.Tensor | None,
    noise: torch.Tensor | None,
    batch: int | None,
    length: int | None,
) -> tuple[int, int]:
    cfg = net.config
    for name, value, dim in (
        ("context", context, cfg.context_dim),
        ("guide", guide, cfg.guide_dim),
    ):
        if dim and value is None:
            raise ValueError(f"the network expects a {name} of dim {dim}; pass {name}=")
        if value is not None and (value.ndim != 2 or value.shape[1] != dim):
            raise ValueError(f"{name} must have shape (B, {dim}), got {tuple(value.shape)}")
    given = [v.shape[0] for v in (context, guide, noise) if v is not None]
    if batch is None:
        if not given:
            raise ValueError("cannot infer the batch size: pass batch=, noise=, context= or guide=")
        batch = given[0]
    if any(b != batch for b in given):
        raise ValueError(f"context, guide and noise disagree on the batch size: {given}")
    if noise is not None:
        if noise.ndim != 3 or noise.shape[2] != cfg.x_dim:
            raise ValueError(f"noise must have shape (B, L, {cfg.x_dim}), got {tuple(noise.shape)}")
        length = noise.shape[1]
    return batch, length if length is not None else cfg.length


def _randn(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """N(0, I) drawn on the generator's device, then moved: a CPU generator gives the same
    noise whether the network runs on CPU or CUDA."""
    where = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=where).to(device)


def _apply_inpaint(x: torch.Tensor, inpaint: Inpaint | None) -> torch.Tensor:
    if inpaint is None:
        return x
    mask, values = inpaint
    return torch.where(mask, values, x)


def _check_inpaint(inpaint: Inpaint | None, shape: tuple[int, int, int]) -> None:
    if inpaint is None:
        return
    mask, values = inpaint
    if mask.dtype != torch.bool or tuple(mask.shape) != shape[1:]:
        raise ValueError(f"inpaint mask must be a bool tensor of shape {shape[1:]}")
    if tuple(values.shape) != shape:
        raise ValueError(f"inpaint values must have shape {shape}, got {tuple(values.shape)}")


class _Sampler:
    def __init__(self, schedule: NoiseSchedule, clip: float) -> None:
        if clip <= 0:
            raise ValueError(f"clip must be > 0, got {clip}")
        self.schedule = schedule
        self.clip = clip

    def _setup(
        self,
        net: TemporalUNet,
        context: torch.Tensor | None,
        guide: torch.Tensor | None,
        guidance: float,
        batch: int | None,
        length: int | None,
        noise: torch.Tensor | None,
        generator: torch.Generator | None,
        inpaint: Inpaint | None,
    ) -> tuple[torch.Tensor, _GuidedDenoiser]:
        batch, length = _check_inputs(net, context, guide, noise, batch, length)
        device = next(net.parameters()).device
        shape = (batch, length, net.config.x_dim)
        _check_inpaint(inpaint, shape)
        noise = _randn(shape, generator, device) if noise is None else noise.to(device)
        denoise = _GuidedDenoiser(net, context, guide, guidance, self.clip, batch, device)
        return _apply_inpaint(noise, inpaint), denoise


class DDIMSampler(_Sampler):
    """DDIM on k of the K training steps; η = 0 (deterministic) by default.

    Paper setting: k = 3 sampling steps (DWM arXiv 2402.03570 Table 6, N = 3; DAWM).
    """

    def __init__(
        self, schedule: NoiseSchedule, steps: int = 3, eta: float = 0.0, clip: float = 1.0
    ) -> None:
        super().__init__(schedule, clip)
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        self.steps = steps
        self.eta = eta
        self._table = schedule.ddim_table(steps)

    def ddim_table(self) -> dict[str, np.ndarray]:
        """The precomputed (t, ᾱ_t, ᾱ_{t_prev}) table shared with the native engine."""
        return {k: v.copy() for k, v in self._table.items()}

    @torch.inference_mode()
    def sample(
        self,
        net: TemporalUNet,
        context: torch.Tensor | None = None,
        guide: torch.Tensor | None = None,
        *,
        guidance: float = 1.0,
        batch: int | None = None,
        length: int | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        inpaint: Inpaint | None = None,
    ) -> torch.Tensor:
        """Normalized samples (B, L, x_dim) from x_K = `noise` (or N(0, I) drawn from `generator`).

        With η > 0 one N(0, I) draw of x's shape is taken from `generator` at every step.
        """
        x, denoise = self._setup(
            net, context, guide, guidance, batch, length, noise, generator, inpaint
        )
        device = x.device
        alphas = torch.from_numpy(self._table["alpha"]).to(device)
        alphas_prev = torch.from_numpy(self._table["alpha_prev"]).to(device)
        for i, t in enumerate(self._table["t"].tolist()):
            a, a_prev = alphas[i], alphas_prev[i]
            x0, eps = denoise(x, t, a)
            if self.eta > 0:
                var = self.eta**2 * (1 - a_prev) / (1 - a) * (1 - a / a_prev)
                z = _randn(x.shape, generator, device)
                x = a_prev.sqrt() * x0 + (1 - a_prev - var).clamp_min(0).sqrt() * eps
                x = x + var.sqrt() * z
            else:
                x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
            x = _apply_inpaint(x, inpaint)
        return x


class DDPMSampler(_Sampler):
    """Ancestral sampling through all K steps with the posterior q(x_{k-1} | x_k, x̂_0).

    The reference for DDIMSampler: with η = 1 and k = K both draw the same noise in the same
    order and follow the same path.
    """

    @torch.inference_mode()
    def sample(
        self,
        net: TemporalUNet,
        context: torch.Tensor | None = None,
        guide: torch.Tensor | None = None,
        *,
        guidance: float = 1.0,
        batch: int | None = None,
        length: int | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        inpaint: Inpaint | None = None,
    ) -> torch.Tensor:
        x, denoise = self._setup(
            net, context, guide, guidance, batch, length, noise, generator, inpaint
        )
        device = x.device
        s = self.schedule
        alphas = torch.from_numpy(s.alphas_cumprod).to(device)
        c0 = torch.from_numpy(s.posterior_coef_x0).to(device)
        ct = torch.from_numpy(s.posterior_coef_xt).to(device)
        std = torch.from_numpy(s.posterior_variance).to(device).sqrt()
        for t in range(s.steps - 1, -1, -1):
            x0, _ = denoise(x, t, alphas[t])
            z = _randn(x.shape, generator, device)
            x = c0[t] * x0 + ct[t] * x + std[t] * z
            x = _apply_inpaint(x, inpaint)
        return x
