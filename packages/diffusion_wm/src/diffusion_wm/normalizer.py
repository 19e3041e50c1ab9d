"""Normalization of x (min-max to [−1, 1], so x0 clipping matches the data range) and of the
context and guide vectors (standardized), fitted on the training data and saved with the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

RANGE_FLOOR = 1e-6  # contract: hi − lo and std are floored at 1e-6
NAMES = ("x_lo", "x_hi", "c_mean", "c_std", "g_mean", "g_std")


def _stats(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if a.shape[-1] == 0:
        empty = np.zeros(0, np.float32)
        return empty, empty.copy()
    flat = a.reshape(-1, a.shape[-1]).astype(np.float64)
    std = np.maximum(flat.std(axis=0), RANGE_FLOOR)
    return flat.mean(axis=0).astype(np.float32), std.astype(np.float32)


@dataclass
class Normalizer:
    """Per-dimension statistics; all arrays float32 (names fixed by the export contract)."""

    x_lo: np.ndarray
    x_hi: np.ndarray
    c_mean: np.ndarray
    c_std: np.ndarray
    g_mean: np.ndarray
    g_std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, context: np.ndarray, guide: np.ndarray) -> Normalizer:
        """x (N, L, x_dim): per x dimension over all N·L elements; context/guide (N, d)."""
        flat = x.reshape(-1, x.shape[-1])
        lo = flat.min(axis=0).astype(np.float32)
        hi = flat.max(axis=0).astype(np.float32)
        c_mean, c_std = _stats(context)
        g_mean, g_std = _stats(guide)
        return cls(lo, hi, c_mean, c_std, g_mean, g_std)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            f"normalizer.{n}": np.ascontiguousarray(getattr(self, n), np.float32) for n in NAMES
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Normalizer:
        return cls(**{n: np.asarray(arrays[f"normalizer.{n}"], np.float32) for n in NAMES})

    def torch(self, device: torch.device | str) -> TorchNormalizer:
        return TorchNormalizer(
            *(torch.from_numpy(np.asarray(getattr(self, n), np.float32)).to(device) for n in NAMES)
        )


@dataclass
class TorchNormalizer:
    """The same statistics as tensors on a device, for batched (de)normalization."""

    x_lo: torch.Tensor
    x_hi: torch.Tensor
    c_mean: torch.Tensor
    c_std: torch.Tensor
    g_mean: torch.Tensor
    g_std: torch.Tensor

    def __post_init__(self) -> None:
        # Floored here rather than stored, so a constant dimension keeps its true hi == lo.
        self.x_range = (self.x_hi - self.x_lo).clamp_min(RANGE_FLOOR)

    def x(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * (x - self.x_lo) / self.x_range - 1.0

    def x_inverse(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1.0) * 0.5 * self.x_range + self.x_lo

    def context(self, c: torch.Tensor) -> torch.Tensor:
        return (c - self.c_mean) / self.c_std

    def guide(self, g: torch.Tensor) -> torch.Tensor:
        return (g - self.g_mean) / self.g_std
