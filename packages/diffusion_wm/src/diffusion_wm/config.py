"""Configuration: WorldModelConfig (what a trained model is) and SamplingConfig (how to draw).

WorldModelConfig holds shapes, network, diffusion, guidance dropout and EMA; it is saved with
the weights. SamplingConfig holds DDIM steps, guidance weight, x0 clip and eta; it is chosen
at generate time and never saved with a model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from ._fields import COUNT, Valid, check_fields
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

    VALID: ClassVar[dict[str, Valid]] = {
        **UNetConfig.VALID,
        "diffusion_steps": Valid("int", lo=1, why="DWM uses 5"),
        "p_uncond": Valid("float", lo=0, hi=1, hi_open=True, why="0 never drops the guide"),
        "ema_decay": Valid("float", lo=0, hi=1, lo_open=True, hi_open=True),
        "ema_every": COUNT,
        "ema_start": Valid("int", lo=0, why="0 averages from the first step"),
        "inpaint_tokens": Valid("int", lo=0, why="0: none known at sampling"),
        "loss_weights": Valid("float", lo=0, many=True, none=True, why="None weighs all as 1"),
    }

    def __post_init__(self) -> None:
        super().__post_init__()  # checks every field in VALID, then the U-Net's dim
        if self.inpaint_tokens >= self.length:
            raise ValueError(
                f"WorldModelConfig.inpaint_tokens must be below length ({self.length}), "
                f"got {self.inpaint_tokens}"
            )
        if self.loss_weights is not None and len(self.loss_weights) != self.x_dim:
            raise ValueError(
                f"WorldModelConfig.loss_weights needs one weight per x dimension ({self.x_dim}), "
                f"got {len(self.loss_weights)}"
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

    VALID: ClassVar[dict[str, Valid]] = {
        "steps": Valid("int", lo=1, why="DWM uses 3"),
        "guidance": Valid("float", why="1.0 is unguided, Decision Diffuser uses 1.2"),
        "clip": Valid("float", lo=0, lo_open=True, why="data are normalized to ±1"),
        "eta": Valid("float", lo=0, why="0 is deterministic DDIM"),
    }

    def __post_init__(self) -> None:
        check_fields(self)

    def check(self, diffusion_steps: int) -> None:
        """Raise unless these settings fit a model trained with `diffusion_steps` steps K."""
        if self.steps > diffusion_steps:
            raise ValueError(
                f"steps={self.steps} exceeds the model's diffusion_steps ({diffusion_steps}); "
                f"pass SamplingConfig(steps=...) with at most {diffusion_steps}"
            )
