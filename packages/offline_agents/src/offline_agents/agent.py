"""What TD3BC and IQL share: state normalization, ``act``, save/load and the resumable loop.

An algorithm subclass builds its networks and optimizers in ``_build`` and implements one
gradient update in ``_update``; everything here is algorithm-agnostic.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from . import __version__
from ._atomic import atomic_write
from .buffer import Batch, ReplayBuffer
from .evaluation import EvalResult
from .nets import EnsembleMLP
from .optim import FlatAdam

CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.safetensors"
META = "agent.json"


def _config_dict(config: Any) -> dict[str, Any]:
    """The config as plain JSON values (tuples become lists), for files and comparisons."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


class OfflineAgent:
    """Base of the offline agents. Subclasses set ``config_cls`` and ``loss_names``."""

    config_cls: ClassVar[type]
    loss_names: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        max_action: float | np.ndarray = 1.0,
        config: Any = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if obs_dim <= 0 or act_dim <= 0:
            raise ValueError(f"obs_dim and act_dim must be positive, got {obs_dim}, {act_dim}")
        config = self.config_cls() if config is None else config
        if not isinstance(config, self.config_cls):
            raise ValueError(
                f"{type(self).__name__} needs a {self.config_cls.__name__}, "
                f"got {type(config).__name__}"
            )
        max_a = np.broadcast_to(np.asarray(max_action, dtype=np.float32), (act_dim,))
        if not np.all(np.isfinite(max_a)) or np.any(max_a <= 0):
            raise ValueError(
                f"max_action must be positive and finite (actions lie in [-max, max]), "
                f"got {max_action}"
            )
        self.obs_dim, self.act_dim, self.config = obs_dim, act_dim, config
        self.device = torch.device(device)
        self.max_action = torch.tensor(max_a, device=self.device)
        self.step = 0
        self._elapsed = 0.0
        self._train_steps = 0  # the `steps` of the running train() call
        self.generator = torch.Generator(self.device).manual_seed(config.seed)
        self.obs_mean = torch.zeros(obs_dim, device=self.device)
        self.obs_std = torch.ones(obs_dim, device=self.device)
        self._normalizer_set = not config.normalize_states
        self._loss_sum = torch.zeros(len(self.loss_names), device=self.device)
        self._loss_count = torch.zeros(len(self.loss_names), device=self.device)
        # Initialise from the config seed without touching the caller's global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self._build()
        self._set_state_affine()

    # ----- subclass hooks -------------------------------------------------------------
    def _build(self) -> None:
        """Create networks, target networks and optimizers."""
        raise NotImplementedError

    def _update(self, batch: Batch, states: torch.Tensor) -> torch.Tensor:
        """One gradient update; ``states`` is [s | s'] normalized. Returns the values of
        the first k ``loss_names`` computed at this step as a 1-D tensor."""
        raise NotImplementedError

    def _policy(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic actions for normalized observations."""
        raise NotImplementedError

    def modules(self) -> dict[str, nn.Module]:
        """Every network, target networks included (what save/load and checkpoints hold)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, FlatAdam]:
        raise NotImplementedError

    def _mlp(self, in_dim: int, out_dim: int, members: int = 1) -> EnsembleMLP:
        """A network of the config's ``hidden`` widths and ``matmul_dtype`` on the agent's
        device; its weights draw from the global RNG, so ``_build``'s call order fixes them."""
        dt = getattr(torch, self.config.matmul_dtype)
        net = EnsembleMLP(in_dim, out_dim, self.config.hidden, members=members, matmul_dtype=dt)
        return net.to(self.device)

    # ----- state normalization --------------------------------------------------------
    def set_state_normalizer(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Fix the (s − mean) / std applied to every state, in training and in ``act``."""
        mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        if mean.shape != (self.obs_dim,) or std.shape != (self.obs_dim,):
            raise ValueError(f"mean and std must have shape ({self.obs_dim},)")
        if not np.all(std > 0):
            raise ValueError("std must be positive; add an epsilon to constant dimensions")
        self.obs_mean.copy_(torch.from_numpy(mean))
        self.obs_std.copy_(torch.from_numpy(std))
        self._normalizer_set = True
        self._set_state_affine()

    def _set_state_affine(self) -> None:
        # [s | s'] normalized in one fused multiply-add: x·scale + shift.
        scale = 1.0 / self.obs_std
        self._scale2 = torch.cat([scale, scale])
        self._shift2 = torch.cat([-self.obs_mean * scale, -self.obs_mean * scale])

    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action(s) for raw observation(s) [obs_dim] or [N, obs_dim]."""
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
        if x.shape[-1] != self.obs_dim or x.dim() not in (1, 2):
            raise ValueError(f"act expects [obs_dim] or [N, obs_dim] with obs_dim={self.obs_dim}")
        x = torch.addcmul(self._shift2[: self.obs_dim], x, self._scale2[: self.obs_dim])
        a = self._policy(x.reshape(-1, self.obs_dim)).clamp(-self.max_action, self.max_action)
        return a.reshape(*x.shape[:-1], self.act_dim).cpu().numpy()

    # ----- training -------------------------------------------------------------------
    def train(
        self,
        buffer: ReplayBuffer,
        steps: int,
        *,
        eval_fn: Callable[[OfflineAgent], EvalResult] | None = None,
        eval_every: int = 5000,
        log_every: int = 1000,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 10_000,
        resume: bool = True,
        log_csv: str | Path | None = None,
        progress: bool = True,
    ) -> list[dict[str, float]]:
        """Train until ``self.step == steps`` (a total, so a resumed run finishes the same).

        With ``checkpoint_dir`` and ``resume`` an existing checkpoint is loaded first and
        training continues bit-identically (weights, optimizer moments, RNG state, step).
        Returns the rows written to the training-curve CSV during this call.
        """
        if buffer.obs_dim != self.obs_dim or buffer.act_dim != self.act_dim:
            raise ValueError(
                f"buffer has obs/act dims ({buffer.obs_dim}, {buffer.act_dim}) but the agent "
                f"({self.obs_dim}, {self.act_dim})"
            )
        if buffer.device != self.device:
            raise ValueError(f"buffer is on {buffer.device} but the agent on {self.device}")
        for name, val in (
            ("eval_every", eval_every),
            ("log_every", log_every),
            ("checkpoint_every", checkpoint_every),
        ):
            if val <= 0:
                raise ValueError(f"{name} must be positive, got {val}")
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        ckpt = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
        if ckpt is not None and resume and ckpt.exists():
            self._load_checkpoint(ckpt)
        if not self._normalizer_set:
            self.set_state_normalizer(*buffer.state_stats(self.config.normalize_eps))
        self._train_steps = steps
        logger = _CsvLog(log_csv, self.loss_names, self.step) if log_csv is not None else None
        rows: list[dict[str, float]] = []
        bar = tqdm(total=steps, initial=self.step, disable=not progress, desc=type(self).__name__)
        t0, s0 = time.perf_counter(), self.step
        batch_size = self.config.batch_size
        while self.step < steps:
            batch = buffer.sample(batch_size, self.generator)
            states = torch.addcmul(self._shift2, batch.states, self._scale2)
            losses = self._update(batch, states)
            k = losses.shape[0]
            self._loss_sum[:k] += losses
            self._loss_count[:k] += 1
            self.step += 1
            bar.update()
            do_eval = eval_fn is not None and (self.step % eval_every == 0 or self.step == steps)
            if do_eval or self.step % log_every == 0 or self.step == steps:
                now = time.perf_counter()
                self._elapsed += now - t0
                row = self._log_row((self.step - s0) / max(now - t0, 1e-9))
                if do_eval:
                    assert eval_fn is not None
                    result = eval_fn(self)
                    row.update(result.summary())
                    bar.set_postfix(ret=f"{result.mean:.1f}")
                rows.append(row)
                if logger is not None:
                    logger.write(row)
                t0, s0 = time.perf_counter(), self.step
            if ckpt is not None and (self.step % checkpoint_every == 0 or self.step == steps):
                self._save_checkpoint(ckpt)
        bar.close()
        return rows

    def _log_row(self, updates_per_s: float) -> dict[str, float]:
        means = (self._loss_sum / self._loss_count.clamp(min=1)).tolist()
        self._loss_sum.zero_()
        self._loss_count.zero_()
        row: dict[str, float] = {
            "step": self.step,
            "elapsed_s": round(self._elapsed, 3),
            "updates_per_s": round(updates_per_s, 1),
        }
        row.update(zip(self.loss_names, means, strict=True))
        return row

    # ----- files ----------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {
            "algo": type(self).__name__,
            "package_version": __version__,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "config": _config_dict(self.config),
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        out = {
            f"{name}.{key}": t.detach()
            for name, mod in self.modules().items()
            for key, t in mod.state_dict().items()
        }
        out.update(obs_mean=self.obs_mean, obs_std=self.obs_std, max_action=self.max_action)
        # clone: parameters are views into flat buffers, and safetensors refuses shared memory
        return {k: v.cpu().clone() for k, v in out.items()}

    def _load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        for name, mod in self.modules().items():
            prefix = f"{name}."
            mod.load_state_dict(
                {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            )
        self.max_action.copy_(tensors["max_action"])
        self.set_state_normalizer(tensors["obs_mean"].numpy(), tensors["obs_std"].numpy())

    def save(self, directory: str | Path) -> None:
        """Weights (safetensors) + config (JSON): enough to act or to fine-tune afresh."""
        directory = Path(directory)
        atomic_write(directory / WEIGHTS, lambda tmp: save_file(self._tensors(), tmp))
        meta = json.dumps(self._meta() | {"step": self.step}, indent=2) + "\n"
        atomic_write(directory / META, lambda tmp: Path(tmp).write_text(meta))

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> OfflineAgent:
        """Rebuild an agent written by ``save``."""
        directory = Path(directory)
        if not (directory / META).exists():
            raise FileNotFoundError(f"no {META} in {directory}; write one with agent.save(dir)")
        meta = json.loads((directory / META).read_text())
        if meta["algo"] != cls.__name__:
            raise ValueError(f"{directory} holds a {meta['algo']}; load it with that class")
        config = cls.config_cls(**meta["config"])
        tensors = load_file(directory / WEIGHTS)
        agent = cls(meta["obs_dim"], meta["act_dim"], tensors["max_action"].numpy(), config, device)
        agent._load_tensors(tensors)
        agent.step = int(meta["step"])
        return agent

    def _save_checkpoint(self, path: Path) -> None:
        state = {
            "meta": self._meta(),
            "tensors": self._tensors(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
            "generator": self.generator.get_state(),
            "step": self.step,
            "elapsed_s": self._elapsed,
            "loss_sum": self._loss_sum.cpu(),
            "loss_count": self._loss_count.cpu(),
        }
        atomic_write(path, lambda tmp: torch.save(state, tmp))

    def _load_checkpoint(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        mine, theirs = self._meta(), state["meta"]
        for key in ("algo", "obs_dim", "act_dim", "config"):
            if mine[key] != theirs[key]:
                raise ValueError(
                    f"checkpoint {path} was written with a different {key} "
                    f"({theirs[key]} vs {mine[key]}); use a matching agent or resume=False"
                )
        self._load_tensors({k: v.cpu() for k, v in state["tensors"].items()})
        for key, opt in self.optimizers().items():
            opt.load_state_dict(state["optimizers"][key])
        self.generator.set_state(state["generator"].cpu())
        self.step = int(state["step"])
        self._elapsed = float(state["elapsed_s"])
        self._loss_sum.copy_(state["loss_sum"])
        self._loss_count.copy_(state["loss_count"])


def check_common(config: Any) -> None:
    """Checks of the fields every agent config has (discount, tau, batch_size, hidden,
    normalize_eps, matmul_dtype)."""
    if not 0.0 <= config.discount <= 1.0:
        raise ValueError(f"discount must lie in [0, 1], got {config.discount}")
    if not 0.0 < config.tau <= 1.0:
        raise ValueError(f"tau must lie in (0, 1], got {config.tau}")
    if config.batch_size < 1 or not config.hidden or min(config.hidden) < 1:
        raise ValueError(
            "batch_size and hidden widths must be positive, "
            f"got {config.batch_size}, {config.hidden}"
        )
    if config.normalize_eps < 0:
        raise ValueError(f"normalize_eps must be >= 0, got {config.normalize_eps}")
    if config.matmul_dtype not in ("float32", "bfloat16"):
        raise ValueError(
            f"matmul_dtype must be 'float32' or 'bfloat16', got {config.matmul_dtype!r}"
        )


def cosine_lr(base_lr: float, step: int, total: int) -> float:
    """Cosine annealing from ``base_lr`` to 0 over ``total`` steps (a pure function of the
    step, so resuming needs no scheduler state)."""
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


class _CsvLog:
    """Training-curve CSV; on resume, rows past the checkpoint's step are dropped first."""

    def __init__(self, path: str | Path, loss_names: tuple[str, ...], step: int) -> None:
        self.path = Path(path)
        self.fields = [
            "step",
            "elapsed_s",
            "updates_per_s",
            *loss_names,
            *EvalResult.summary_fields(),
        ]
        kept: list[dict[str, str]] = []
        if self.path.exists() and step > 0:
            with self.path.open(newline="") as f:
                kept = [r for r in csv.DictReader(f) if int(r["step"]) <= step]

        def write(tmp: str) -> None:
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, self.fields)
                w.writeheader()
                w.writerows(kept)

        atomic_write(self.path, write)

    def write(self, row: dict[str, float]) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow(row)
