"""`fit`: Gaussian maximum likelihood with a validation split and early stopping, resumable
from a checkpoint written after every epoch."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from inverse_dynamics._atomic import atomic_write
from inverse_dynamics.config import FitConfig
from inverse_dynamics.metrics import ActionMetrics, evaluate
from inverse_dynamics.model import InverseDynamicsModel
from inverse_dynamics.validation import check_windows_actions

CHECKPOINT_FILE = "fit_checkpoint.pt"
# FitConfig fields a resume may change: the progress bar, and the device (which changes the
# numbers' rounding, so a resume on another device is not bit-identical to a run on one).
_RESUME_FREE = ("device", "progress")


@dataclass
class FitResult:
    """Per-epoch curves and the held-out metrics of the restored best model."""

    train_nll: list[float] = field(default_factory=list)
    val_nll: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    val_metrics: ActionMetrics | None = None
    # Epochs a checkpoint supplied (0: a fresh fit).
    resumed_from_epoch: int = 0

    def curves(self) -> dict:
        """What a fit checkpoint carries of the result."""
        return {
            "train_nll": self.train_nll,
            "val_nll": self.val_nll,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
        }

    def to_dict(self) -> dict:
        return {
            **self.curves(),
            "val_metrics": None if self.val_metrics is None else self.val_metrics.to_dict(),
            "resumed_from_epoch": self.resumed_from_epoch,
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
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = True,
) -> FitResult:
    """Train `model` in place on (windows, actions); returns curves and held-out metrics.

    `on_epoch(epoch, {"train_nll": ..., "val_nll": ...})` is called after every epoch (e.g.
    for TensorBoard); a resumed fit calls it for the new epochs only.

    The validation split is random over windows (seeded). Normalization statistics come
    from the training split only. Training stops after `cfg.patience` epochs without a
    lower validation NLL, and the best epoch's weights are restored.

    With `checkpoint_dir`, everything the loop carries (weights, Adam's moments, the
    generator, the curves, the best weights so far) is written atomically after every
    epoch, and with `resume` a later call on the same model config, action bounds, FitConfig
    and data continues from it: on the same device, the result equals an uninterrupted fit's,
    bit for bit.
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
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_FILE
    identity = _identity(model, cfg, windows, actions)
    saved = (
        _read_checkpoint(ckpt, identity) if ckpt is not None and resume and ckpt.is_file() else None
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
    loop = _LoopState() if saved is None else _LoopState.restore(saved, model, optimizer, generator)
    result = loop.result

    first = cfg.max_epochs if result.stopped_early else loop.epochs_done  # a finished fit resumed
    bar = tqdm(
        range(first, cfg.max_epochs),
        desc="IDM fit",
        unit="epoch",
        disable=not cfg.progress,
        initial=first,
        total=cfg.max_epochs,
    )
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
        loop.end_epoch(val_nll, model, cfg.patience)
        if ckpt is not None:
            _write_checkpoint(ckpt, identity, loop, model, optimizer, generator)
        if result.stopped_early:
            break
    bar.close()
    if loop.best_state is not None:
        model.load_state_dict(loop.best_state)
    model.eval()
    result.val_metrics = evaluate(model, windows[val_idx], actions[val_idx])
    return result


@dataclass
class _LoopState:
    """What the epoch loop carries from one epoch to the next (all a checkpoint must hold)."""

    result: FitResult = field(default_factory=FitResult)
    best_state: dict[str, torch.Tensor] | None = None
    best_val: float = float("inf")
    bad_epochs: int = 0

    @property
    def epochs_done(self) -> int:
        return len(self.result.val_nll)

    def end_epoch(self, val_nll: float, model: InverseDynamicsModel, patience: int) -> None:
        """Keep the best weights; stop after `patience` epochs without a lower val NLL."""
        if val_nll < self.best_val:
            self.best_val, self.bad_epochs, self.result.best_epoch = (
                val_nll,
                0,
                self.epochs_done - 1,
            )
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
            self.result.stopped_early = self.bad_epochs >= patience

    @classmethod
    def restore(cls, saved: dict[str, Any], model, optimizer, generator) -> _LoopState:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(saved["generator"])
        result = FitResult(**json.loads(saved["curves"]))
        result.resumed_from_epoch = len(result.val_nll)
        return cls(result, saved["best_state"], float(saved["best_val"]), int(saved["bad_epochs"]))


def _identity(model: InverseDynamicsModel, cfg: FitConfig, windows, actions) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the model config and action bounds, the
    fit settings that change the numbers, and the data (a digest of its bytes: other or
    reordered rows fail loudly)."""
    settings = {k: v for k, v in asdict(cfg).items() if k not in _RESUME_FREE}
    digest = hashlib.blake2b(digest_size=16)
    for array in (windows, actions):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).data)
    bounds = [model.act_low.tolist(), model.act_high.tolist()]
    return {
        "config": model.config.to_dict(),
        "bounds": bounds,
        "fit": settings,
        "data": digest.hexdigest(),
    }


def _write_checkpoint(path: Path, identity, loop: _LoopState, model, optimizer, generator) -> None:
    from inverse_dynamics import __version__

    state = {
        "format": "dawm-inverse-dynamics-fit",
        "version": __version__,
        "identity": json.dumps(identity),
        "curves": json.dumps(loop.result.curves()),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "best_state": loop.best_state,
        "best_val": loop.best_val,
        "bad_epochs": loop.bad_epochs,
    }
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def _read_checkpoint(path: Path, identity: dict[str, Any]) -> dict[str, Any]:
    """Load with weights_only=True (never unpickles code) and check it belongs to this fit."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["format"] != "dawm-inverse-dynamics-fit":
            raise KeyError("format")
        saved = json.loads(state["identity"])
    except Exception as e:  # torch raises several types for a truncated or foreign file
        raise ValueError(
            f"IDM fit checkpoint {path} is corrupt or not an inverse_dynamics fit checkpoint "
            f"({type(e).__name__}); delete it (or pass resume=False) to start afresh"
        ) from e
    what = {"config": "model config", "bounds": "action bounds", "fit": "FitConfig", "data": "data"}
    for key, name in what.items():
        if saved.get(key) != json.loads(json.dumps(identity[key])):
            raise ValueError(
                f"IDM fit checkpoint {path} was made with another {name}; use the same one, "
                "or delete the checkpoint (or pass resume=False) to start afresh"
            )
    return state
