"""`fit`: Gaussian maximum likelihood with a validation split and early stopping."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from inverse_dynamics.config import FitConfig
from inverse_dynamics.metrics import ActionMetrics, evaluate
from inverse_dynamics.model import InverseDynamicsModel
from inverse_dynamics.validation import check_windows_actions


@dataclass
class FitResult:
    """Per-epoch curves and the held-out metrics of the restored best model."""

    train_nll: list[float] = field(default_factory=list)
    val_nll: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    val_metrics: ActionMetrics | None = None

    def to_dict(self) -> dict:
        return {
            "train_nll": self.train_nll,
            "val_nll": self.val_nll,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "val_metrics": None if self.val_metrics is None else self.val_metrics.to_dict(),
        }


def _noisy(
    windows: torch.Tensor, model: InverseDynamicsModel, cfg: FitConfig, gen: torch.Generator
) -> torch.Tensor:
    """The windows with `cfg.next_state_noise` x each dimension's std of Gaussian noise on
    s_{t+1}; unchanged (and no random draw) when it is 0."""
    if cfg.next_state_noise == 0:
        return windows
    noise = torch.randn(windows[:, -1].shape, generator=gen).to(windows.device)
    noisy = windows.clone()
    noisy[:, -1] += cfg.next_state_noise * model.obs_std * noise
    return noisy


def fit(
    model: InverseDynamicsModel,
    windows: np.ndarray,
    actions: np.ndarray,
    cfg: FitConfig,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> FitResult:
    """Train `model` in place on (windows, actions); returns curves and held-out metrics.

    `on_epoch(epoch, {"train_nll": ..., "val_nll": ...})` is called after every epoch (e.g.
    for TensorBoard).

    The validation split is random over windows (seeded). Normalization statistics come
    from the training split only. Training stops after `cfg.patience` epochs without a
    lower validation NLL, and the best epoch's weights are restored.
    """
    windows = np.asarray(windows, dtype=np.float32)
    actions = np.asarray(actions, dtype=np.float32)
    mc = model.config
    check_windows_actions(windows, actions, mc.window_len, mc.obs_dim, mc.act_dim)
    n = len(windows)
    n_val = round(n * cfg.val_fraction)
    if n_val < 1 or n - n_val < 1:
        raise ValueError(
            f"fit: {n} windows are too few for val_fraction={cfg.val_fraction}; "
            "give more data or change val_fraction"
        )
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(n)
    train_idx, val_idx = order[n_val:], order[:n_val]
    torch.manual_seed(cfg.seed)

    device = torch.device(cfg.device)
    model.to(device)
    model.set_normalization(windows[train_idx], actions[train_idx])
    w_train = torch.from_numpy(windows[train_idx]).to(device)
    a_train = torch.from_numpy(actions[train_idx]).to(device)
    w_val = torch.from_numpy(windows[val_idx]).to(device)
    a_val = torch.from_numpy(actions[val_idx]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator(device="cpu").manual_seed(cfg.seed)

    result = FitResult()
    best_state, best_val, bad_epochs = None, float("inf"), 0
    bar = tqdm(range(cfg.max_epochs), desc="IDM fit", unit="epoch", disable=not cfg.progress)
    for epoch in bar:
        model.train()
        perm = torch.randperm(len(w_train), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(perm), cfg.batch_size):
            idx = perm[start : start + cfg.batch_size]
            loss = -model.log_prob(_noisy(w_train[idx], model, cfg, generator), a_train[idx]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        result.train_nll.append(total / len(perm))
        model.eval()
        with torch.no_grad():
            val_nll = float(-model.log_prob(w_val, a_val).mean())
        result.val_nll.append(val_nll)
        if on_epoch is not None:
            on_epoch(epoch, {"train_nll": result.train_nll[-1], "val_nll": val_nll})
        bar.set_postfix(train_nll=f"{result.train_nll[-1]:.3f}", val_nll=f"{val_nll:.3f}")
        if val_nll < best_val:
            best_val, bad_epochs, result.best_epoch = val_nll, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            if bad_epochs >= cfg.patience:
                result.stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.val_metrics = evaluate(model, windows[val_idx], actions[val_idx])
    return result
