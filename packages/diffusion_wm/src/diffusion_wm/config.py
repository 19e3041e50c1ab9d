"""The one configuration object of a DiffusionWorldModel: shapes, network, diffusion, EMA."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .unet import UNetConfig


@dataclass(frozen=True)
class WorldModelConfig(UNetConfig):
    """Everything needed to rebuild a model; saved as JSON next to the weights.

    The network's shape fields (x_dim … prediction) come first, from UNetConfig; the
    diffusion, guidance and EMA settings follow.

    Paper-derived defaults (DWM arXiv 2402.03570 Table 6, which DAWM arXiv 2509.19538 builds
    on): K = 5 training steps, k = 3 DDIM steps, p_uncond 0.25, EMA decay 0.995 every 10 steps.
    Guidance ω = 1.2 is Decision Diffuser's (DWM does not state its ω). The network predicts
    x0 as in Diffuser's locomotion config: with K = 5 the ε form divides by sqrt(ᾱ_{K-1}) ≈ 0.01
    when recovering x0 (on our sine toy, 600 steps: x0 MAE 0.008 vs ε 0.065). `inpaint_tokens` leading
    sequence elements are known at sampling (CleanDiffuser/DWM first-state inpainting): training
    gives them clean and leaves them out of the loss, `sample` then needs `inpaint=`.
    """

    diffusion_steps: int = 5
    sampling_steps: int = 3
    guidance: float = 1.2
    p_uncond: float = 0.25
    clip: float = 1.0
    eta: float = 0.0
    ema_decay: float = 0.995
    ema_every: int = 10
    ema_start: int = 1000
    inpaint_tokens: int = 0
    loss_weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.loss_weights is not None:
            object.__setattr__(self, "loss_weights", tuple(float(w) for w in self.loss_weights))
            if len(self.loss_weights) != self.x_dim:
                raise ValueError(
                    f"loss_weights needs one weight per x dimension ({self.x_dim}), "
                    f"got {len(self.loss_weights)}"
                )
        super().__post_init__()  # validates shapes, width and prediction
        if not 1 <= self.sampling_steps <= self.diffusion_steps:
            raise ValueError(
                f"sampling_steps must be in 1..diffusion_steps ({self.diffusion_steps}), "
                f"got {self.sampling_steps}"
            )
        if not 0.0 < self.ema_decay < 1.0 or self.ema_every < 1 or self.ema_start < 0:
            raise ValueError("need 0 < ema_decay < 1, ema_every >= 1 and ema_start >= 0")
        if not 0 <= self.inpaint_tokens < self.horizon:
            raise ValueError(
                f"inpaint_tokens must be in 0..horizon-1 ({self.horizon - 1}), "
                f"got {self.inpaint_tokens}"
            )

    def unet_config(self) -> UNetConfig:
        """The network's fields alone (the U-Net and the engine export take no more)."""
        return UNetConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(UNetConfig)})

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["dim_mults"] = list(self.dim_mults)
        if self.loss_weights is not None:
            d["loss_weights"] = list(self.loss_weights)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorldModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"unknown WorldModelConfig fields {unknown}: saved by a newer version?"
            )
        return cls(**d)
