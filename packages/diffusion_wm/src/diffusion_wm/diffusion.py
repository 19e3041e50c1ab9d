"""The training objective: denoising loss on x0 or ε with guide dropout for classifier-free
guidance, optional inpainting of known entries, and per-dimension loss weights."""

from __future__ import annotations

import torch

from .schedule import NoiseSchedule
from .unet import TemporalUNet


class GaussianDiffusion:
    """Samples (t, ε, guide mask) and scores the network's prediction by weighted MSE.

    `p_uncond`: probability of dropping the guide (its embedding zeroed), 0.25 as in Decision
    Diffuser and DWM (arXiv 2402.03570, Table 6). `inpaint_mask` (L, x_dim) marks entries known
    at sampling time: they are given clean to the network and excluded from the loss, so
    training sees what the inpainting sampler feeds it. `loss_weights` is (x_dim,) or (L, x_dim).
    """

    def __init__(
        self,
        schedule: NoiseSchedule,
        p_uncond: float = 0.25,
        loss_weights: torch.Tensor | None = None,
        inpaint_mask: torch.Tensor | None = None,
        prediction: str = "x0",
    ) -> None:
        if not 0.0 <= p_uncond < 1.0:
            raise ValueError(f"p_uncond must be in [0, 1), got {p_uncond}")
        self.schedule = schedule
        self.prediction = prediction
        self.p_uncond = p_uncond
        self.loss_weights = loss_weights
        self.inpaint_mask = inpaint_mask

    def draw(
        self,
        shape: torch.Size | tuple[int, ...],
        generator: torch.Generator | None,
        device: torch.device | str,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The randomness of one training batch: steps t, noise ε, and the guide-keep mask."""
        batch = shape[0]
        t = torch.randint(self.schedule.steps, (batch,), generator=generator, device=device)
        noise = torch.randn(shape, generator=generator, device=device)
        use_guide = torch.rand(batch, generator=generator, device=device) >= self.p_uncond
        return t, noise, use_guide

    def loss(
        self,
        net: TemporalUNet | torch.nn.Module,
        x0: torch.Tensor,
        context: torch.Tensor | None = None,
        guide: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        t: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        use_guide: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean weighted squared error; t, noise and use_guide are drawn unless all given."""
        batch = x0.shape[0]
        if t is None or noise is None or use_guide is None:
            t, noise, use_guide = self.draw(x0.shape, generator, x0.device)
        x_t = self.schedule.q_sample(x0, t, noise)
        if self.inpaint_mask is not None:
            x_t = torch.where(self.inpaint_mask, x0, x_t)
        pred = net(x_t, t, context, guide, use_guide)
        target = noise if self.prediction == "epsilon" else x0
        err = (pred - target).square()
        if self.loss_weights is not None:
            err = err * self.loss_weights
        if self.inpaint_mask is not None:
            keep = (~self.inpaint_mask).to(err.dtype)
            return (err * keep).sum() / (keep.sum() * batch).clamp_min(1.0)
        return err.mean()
