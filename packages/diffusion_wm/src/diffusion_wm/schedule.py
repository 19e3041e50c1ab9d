"""Cosine noise schedule (Nichol & Dhariwal 2021) over K training steps and the DDIM table.

Every derived table is computed once here, in float64, and stored as float32: the PyTorch
sampler and the native engine read the same numbers (diffusers #12633 shows what goes wrong
when a sampler re-derives its previous timestep inside step()).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def cosine_alphas_cumprod(steps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """ᾱ_k for k = 0..K-1 (k = 0 least noisy), float64.

    f(u) = cos²((u + s)/(1 + s) · π/2) at u = k/K, k = 0..K; β_k = 1 − f(k+1)/f(k) clipped to
    ≤ max_beta; ᾱ_k = Π_{j≤k} (1 − β_j).
    """
    u = np.arange(steps + 1, dtype=np.float64) / steps
    f = np.cos((u + s) / (1.0 + s) * math.pi / 2.0) ** 2
    betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, max_beta)
    return np.cumprod(1.0 - betas)


def ddim_timesteps(train_steps: int, sample_steps: int) -> np.ndarray:
    """round(linspace(K−1, 0, k)) with numpy rounding (half to even), unique, descending."""
    if not 1 <= sample_steps <= train_steps:
        raise ValueError(
            f"sampling steps must be in 1..{train_steps} (the training steps), got {sample_steps}"
        )
    raw = np.round(np.linspace(train_steps - 1, 0, sample_steps)).astype(np.int64)
    return np.unique(raw)[::-1].copy()


class NoiseSchedule:
    """The forward process q(x_k | x_0) = N(sqrt(ᾱ_k) x_0, (1 − ᾱ_k) I), k = 0..K-1.

    Paper setting: K = 5 training steps (DWM arXiv 2402.03570, Table 6; DAWM arXiv 2509.19538).
    """

    def __init__(self, steps: int = 5, s: float = 0.008) -> None:
        if steps < 1:
            raise ValueError(f"diffusion steps K must be >= 1, got {steps}")
        self.steps = steps
        self.s = s
        ac = cosine_alphas_cumprod(steps, s)
        self.alphas_cumprod = ac.astype(np.float32)
        ac_prev = np.concatenate([[1.0], ac[:-1]])
        # DDPM posterior q(x_{k-1} | x_k, x_0) (Ho et al. 2020, eq. 7), for the ancestral sampler.
        betas = 1.0 - ac / ac_prev
        self.posterior_variance = (betas * (1.0 - ac_prev) / (1.0 - ac)).astype(np.float32)
        self.posterior_coef_x0 = (betas * np.sqrt(ac_prev) / (1.0 - ac)).astype(np.float32)
        self.posterior_coef_xt = ((1.0 - ac_prev) * np.sqrt(1.0 - betas) / (1.0 - ac)).astype(
            np.float32
        )
        self._device_cache: dict[str, torch.Tensor] = {}

    def ddim_table(self, sample_steps: int) -> dict[str, np.ndarray]:
        """`t` (k,) int64, `alpha` = ᾱ_t and `alpha_prev` = ᾱ_{t_prev} (1 after the last step)."""
        t = ddim_timesteps(self.steps, sample_steps)
        alpha = self.alphas_cumprod[t]
        alpha_prev = np.concatenate([self.alphas_cumprod[t[1:]], np.ones(1, np.float32)])
        return {"t": t, "alpha": alpha.astype(np.float32), "alpha_prev": alpha_prev}

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) ε for a batch of steps t (B,)."""
        ac = self.alphas_cumprod_tensor(x0.device)[t][:, None, None]
        return ac.sqrt() * x0 + (1.0 - ac).sqrt() * noise

    def alphas_cumprod_tensor(self, device: torch.device | str) -> torch.Tensor:
        """ᾱ as a float32 tensor on `device`, cached so training steps do not copy it."""
        key = str(device)
        if key not in self._device_cache:
            self._device_cache[key] = torch.from_numpy(self.alphas_cumprod).to(device)
        return self._device_cache[key]
