"""Configuration: WorldModelConfig (what a trained model is) and SamplingConfig (how to draw).

WorldModelConfig holds shapes, network, diffusion, guidance dropout and EMA; it is saved with
the weights. SamplingConfig holds DDIM steps, guidance weight, x0 clip and eta; it is chosen
at generate time and never saved with a model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .unet import UNetConfig


@dataclass(frozen=True)
class WorldModelConfig(UNetConfig):
    """Everything needed to rebuild a model; saved as JSON next to the weights.

    The network's shape fields (x_dim … prediction) come first, from UNetConfig; the
    diffusion, guidance-dropout and EMA settings follow. How to sample (DDIM steps, ω, clip,
    eta) is not here: see SamplingConfig.

    Paper-derived defaults (DWM arXiv 2402.03570 Table 6, which DAWM arXiv 2509.19538 builds
    on): K = 5 training steps, p_uncond 0.25, EMA decay 0.995 every 10 steps. The network predicts
    x0 as in Diffuser's locomotion config: with K = 5 the ε form divides by sqrt(ᾱ_{K-1}) ≈ 0.01
    when recovering x0 (on our sine toy, 600 steps: x0 MAE 0.008 vs ε 0.065). `inpaint_tokens` leading
    sequence elements are known at sampling (CleanDiffuser/DWM first-state inpainting): training
    gives them clean and leaves them out of the loss, `sample` then needs `inpaint=`.
    """

    diffusion_steps: int = 5
    p_uncond: float = 0.25
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
        if self.diffusion_steps < 1:
            raise ValueError(
                f"diffusion_steps must be >= 1, got {self.diffusion_steps}; DWM uses 5"
            )
        if not 0.0 < self.ema_decay < 1.0 or self.ema_every < 1 or self.ema_start < 0:
            raise ValueError("need 0 < ema_decay < 1, ema_every >= 1 and ema_start >= 0")
        if not 0 <= self.inpaint_tokens < self.length:
            raise ValueError(
                f"inpaint_tokens must be in 0..length-1 ({self.length - 1}), "
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


@dataclass(frozen=True)
class SamplingConfig:
    """How to draw samples: DDIM steps k, guidance ω, x0 clip and DDIM eta.

    Separate from WorldModelConfig because these are chosen at generate time: a trained model
    does not depend on them, so they are never saved with it and one model can be sampled
    with many settings. Defaults: k = 3 DDIM steps (DWM arXiv 2402.03570 Table 6, N = 3; DAWM
    arXiv 2509.19538), ω = 1.2 (Decision Diffuser's; DWM does not state its ω), x0 clipped to
    ±1 in normalized units (the data range), eta 0 (deterministic DDIM, what the engine runs).
    """

    steps: int = 3
    guidance: float = 1.2
    clip: float = 1.0
    eta: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be an int >= 1, got {self.steps!r}; DWM uses 3")
        if not math.isfinite(self.guidance):
            raise ValueError(
                f"guidance must be finite, got {self.guidance}; 1.0 is unguided, Decision Diffuser uses 1.2"
            )
        if not self.clip > 0:  # also refuses NaN
            raise ValueError(f"clip must be > 0, got {self.clip}; data are normalized to ±1")
        if not (math.isfinite(self.eta) and self.eta >= 0):
            raise ValueError(
                f"eta must be finite and >= 0, got {self.eta}; 0 is deterministic DDIM"
            )

    def check(self, diffusion_steps: int) -> None:
        """Raise unless these settings fit a model trained with `diffusion_steps` steps K."""
        if self.steps > diffusion_steps:
            raise ValueError(
                f"steps={self.steps} exceeds the model's diffusion_steps ({diffusion_steps}); "
                f"pass SamplingConfig(steps=...) with at most {diffusion_steps}"
            )
