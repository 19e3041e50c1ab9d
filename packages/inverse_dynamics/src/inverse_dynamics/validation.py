"""Input checks that turn bad arrays into one clear line instead of a deep stack trace."""

from __future__ import annotations

import numpy as np


def check_finite(array: np.ndarray, what: str) -> None:
    """Raise if `array` holds NaN or inf, naming where the first one is."""
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.argwhere(~finite)[0].tolist()
        raise ValueError(
            f"{what} contain NaN or inf (first at index {bad}); clean or drop those rows first"
        )


def check_windows_actions(
    windows: np.ndarray, actions: np.ndarray | None, window_len: int, obs_dim: int, act_dim: int
) -> None:
    """Shapes and values of (windows, actions) as the model expects them."""
    if windows.ndim != 3 or windows.shape[1:] != (window_len, obs_dim):
        raise ValueError(
            f"windows must have shape (N, {window_len}, {obs_dim}) (history+2 states of "
            f"obs_dim), got {tuple(windows.shape)}; build them with make_windows"
        )
    if windows.shape[0] == 0:
        raise ValueError("windows is empty (0 rows); nothing to fit or predict")
    check_finite(windows, "windows")
    if actions is None:
        return
    if actions.ndim != 2 or actions.shape != (windows.shape[0], act_dim):
        raise ValueError(
            f"actions must have shape ({windows.shape[0]}, {act_dim}), got {tuple(actions.shape)}"
        )
    check_finite(actions, "actions")
