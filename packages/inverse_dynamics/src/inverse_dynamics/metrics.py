"""Accuracy of inferred actions: MSE, per-dimension R², Gaussian log-likelihood."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from inverse_dynamics.model import InverseDynamicsModel
from inverse_dynamics.validation import check_windows_actions


@dataclass(frozen=True)
class ActionMetrics:
    mse: float
    r2_per_dim: list[float]
    r2: float
    log_likelihood: float
    count: int

    def to_dict(self) -> dict:
        return asdict(self)


def r2_per_dimension(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Coefficient of determination per action dimension (1 = perfect, 0 = predicts the mean)."""
    residual = ((target - predicted) ** 2).sum(0)
    total = ((target - target.mean(0)) ** 2).sum(0)
    return 1.0 - residual / np.maximum(total, 1e-12)


@torch.no_grad()
def evaluate(
    model: InverseDynamicsModel, windows: np.ndarray, actions: np.ndarray, batch_size: int = 65536
) -> ActionMetrics:
    """Score the model's mean action and likelihood on held-out (windows, actions)."""
    windows = np.asarray(windows, dtype=np.float32)
    actions = np.asarray(actions, dtype=np.float32)
    cfg = model.config
    check_windows_actions(windows, actions, cfg.window_len, cfg.obs_dim, cfg.act_dim)
    model.eval()
    device = model.obs_mean.device
    predicted = model.predict(windows, batch_size)
    log_lik = 0.0
    for i in range(0, len(windows), batch_size):
        w = torch.from_numpy(windows[i : i + batch_size]).to(device)
        a = torch.from_numpy(actions[i : i + batch_size]).to(device)
        log_lik += float(model.log_prob(w, a).sum())
    r2 = r2_per_dimension(predicted, actions)
    return ActionMetrics(
        mse=float(((predicted - actions) ** 2).mean()),
        r2_per_dim=[float(v) for v in r2],
        r2=float(r2.mean()),
        log_likelihood=log_lik / len(windows),
        count=len(windows),
    )
