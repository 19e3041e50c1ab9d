"""Toy conditional distributions with known answers, for the diffusion_wm tests."""

from __future__ import annotations

import numpy as np

L = 8
STEPS = np.arange(L)


def sine_mean(c: np.ndarray, g: np.ndarray) -> np.ndarray:
    """E[x | c, g] (N, L, 2): a sine whose phase/amplitude come from c, and a ramp scaled by g."""
    wave = (1.0 + 0.5 * c[:, 1:2]) * np.sin(0.8 * STEPS[None, :] + 2.0 * c[:, 0:1])
    ramp = g[:, 0:1] * (STEPS[None, :] / L)
    return np.stack([wave, ramp], axis=-1).astype(np.float32)


def sine_conditions(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        rng.uniform(-1, 1, (n, 1)).astype(np.float32),
    )


def sine_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c, g = sine_conditions(n, seed)
    noise = 0.05 * np.random.default_rng(seed + 100).normal(size=(n, L, 2))
    return (sine_mean(c, g) + noise).astype(np.float32), c, g


BIMODAL_PATTERN = np.sin(0.8 * STEPS + 0.5).astype(np.float32)


def bimodal_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x = ±pattern (50/50, no context); the guide g = sign + N(0, 0.7²) hints at the sign."""
    rng = np.random.default_rng(seed)
    sign = rng.choice([-1.0, 1.0], size=n).astype(np.float32)
    x = sign[:, None] * BIMODAL_PATTERN[None, :] + 0.05 * rng.normal(size=(n, L))
    g = sign + 0.7 * rng.normal(size=n)
    return x[..., None].astype(np.float32), g[:, None].astype(np.float32)


def mode_of(x: np.ndarray) -> np.ndarray:
    """Projection of each sample (N, L, 1) on the pattern: ≈ ±1 near a mode, ≈ 0 between."""
    p = BIMODAL_PATTERN
    return x[..., 0] @ p / (p @ p)
