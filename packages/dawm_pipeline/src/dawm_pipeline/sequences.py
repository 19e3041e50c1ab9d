"""Episodes, returns-to-go and the world model's (x, context, guide) training windows.

The x layout is fixed by docs/engine_contract.md, "DAWM layout": with horizon H a window has
H + 1 tokens, token j = [s_{t+j}, r_{t+j-1}] for j >= 1 and token 0 = [s_t, 0] (inpainted at
sampling); context = [s_t, a_t]; guide = [R_tg], the discounted return-to-go from t divided by
the per-robot scale. Windows never cross an episode boundary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dawm_pipeline.data.dataset import OfflineDataset


def returns_to_go(rewards: np.ndarray, bounds: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted return-to-go sum_{k >= t} gamma^(k-t) r_k within each episode."""
    rtg = np.zeros(len(rewards), np.float64)
    for s, e in bounds:
        acc = 0.0
        for i in range(e - 1, s - 1, -1):
            acc = rewards[i] + gamma * acc
            rtg[i] = acc
    return rtg.astype(np.float32)


def sequence_length(horizon: int) -> int:
    """The world model's sequence length for H generated steps: token 0 holds s_t, so H + 1.

    The one place the pipeline converts H to a length; diffusion_wm and the native engine
    only ever see the length.
    """
    return horizon + 1


def window_starts(bounds: np.ndarray, horizon: int) -> np.ndarray:
    """Row indices t whose H following steps stay inside the episode (t + H <= end)."""
    parts = [np.arange(s, e - horizon + 1) for s, e in bounds if e - s >= horizon]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def build_x(data: OfflineDataset, starts: np.ndarray, horizon: int) -> np.ndarray:
    """x (N, H + 1, obs_dim + 1) for the given window starts (layout in the module doc)."""
    n, d = len(starts), data.obs_dim
    x = np.zeros((n, sequence_length(horizon), d + 1), np.float32)
    x[:, 0, :d] = data.observations[starts]
    for j in range(1, horizon + 1):
        rows = starts + j - 1
        x[:, j, :d] = data.next_observations[rows]
        x[:, j, d] = data.rewards[rows]
    return x


def build_conditions(
    data: OfflineDataset, starts: np.ndarray, rtg: np.ndarray, rtg_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """context [s_t, a_t] (N, obs + act) and guide [R_tg / scale] (N, 1)."""
    context = np.concatenate([data.observations[starts], data.actions[starts]], axis=1)
    guide = (rtg[starts] / rtg_scale).astype(np.float32)[:, None]
    return context.astype(np.float32), guide


def inpaint_mask(length: int, obs_dim: int) -> np.ndarray:
    """Token 0 entirely known (the real s_t and a zero reward slot)."""
    mask = np.zeros((length, obs_dim + 1), bool)
    mask[0] = True
    return mask
