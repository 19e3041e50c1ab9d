"""Stage `train-wm`: fit the diffusion world model on real (x, context, guide) windows.

Resumable: the library checkpoints to `<stage>/checkpoint/` and a rerun after an interrupt
continues from the last checkpoint's step (recorded as `resumed_from`). With
`wm.stop_patience` the model trains in chunks of `wm.stop_every` steps and stops once its
held-out step-0 quality stops improving (`StepZeroCheck`, `stale`); the checks are kept in the
checkpoint folder, so a resumed stage continues the same curve.

Data-parallel under torchrun (pipeline.py runs it on every rank): diffusion_wm's fit averages
the gradients; rank 0 alone reads the checkpoint's step, scores the early-stopping checks and
hands them to the others (so every rank stops at the same step), and writes the outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusion_wm import DiffusionWorldModel, WorldModelConfig
from diffusion_wm.training import CHECKPOINT_FILE

from dawm_pipeline import native
from dawm_pipeline.atomic import read_json, write_json
from dawm_pipeline.data.dataset import OfflineDataset
from dawm_pipeline.distributed import from_main, is_main
from dawm_pipeline.inprogress import read_or_set_aside
from dawm_pipeline.sequences import (
    build_conditions,
    episode_ends,
    returns_to_go,
    sequence_length,
    window_starts,
)
from dawm_pipeline.simcheck import SimScale, score
from dawm_pipeline.stages import data as data_stage
from dawm_pipeline.tblog import ScalarLog

MODEL = "model"
CHECKPOINTS = "checkpoint"
QUALITY = "step_zero_r2.json"  # the early-stopping checks so far, kept for a resume
QUALITY_ROWS = 1000


def ema_decay(cfg) -> float:
    """Per-update EMA decay: DWM's, unless that would make the sampled weights' mean age
    (every · d / (1 − d) steps) exceed `ema_max_age` of the run; then the decay whose mean age
    is exactly that."""
    wm = cfg.wm
    age = wm.ema_max_age * wm.steps
    return min(wm.ema_decay, age / (age + wm.ema_every))


def ema_mean_age(decay: float, every: int) -> float:
    """Mean age in steps of the weights an EMA with this per-update decay holds."""
    return every * decay / (1.0 - decay)


def model_config(cfg, obs_dim: int, act_dim: int) -> WorldModelConfig:
    """The DAWM layout of docs/engine_contract.md as a diffusion_wm config."""
    wm = cfg.wm
    return WorldModelConfig(
        x_dim=cfg.token_layout(obs_dim, act_dim).x_dim,
        length=sequence_length(cfg.horizon),
        context_dim=obs_dim + act_dim,
        guide_dim=1,
        dim=wm.dim,
        dim_mults=wm.dim_mults,
        prediction=wm.prediction,
        diffusion_steps=wm.diffusion_steps,
        p_uncond=wm.p_uncond,
        ema_decay=ema_decay(cfg),
        ema_every=wm.ema_every,
        ema_start=min(1000, wm.steps // 10),
        inpaint_tokens=1,
    )


def _checkpoint_step(path: Path) -> int:
    """The step a resume starts from: 0 (a fresh start) without a readable checkpoint."""

    def step(p: Path) -> int:
        return int(torch.load(p, map_location="cpu", weights_only=True)["step"])

    return read_or_set_aside(path, step) or 0


def windows(cfg, data: OfflineDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, context, guide) of every window of `data` (sequences.py's layout)."""
    rtg = returns_to_go(data.rewards, data.bounds, cfg.gamma)
    layout = cfg.token_layout(data.obs_dim, data.act_dim)
    bounds = data.bounds
    absorbing = data.terminals[bounds[:, 1] - 1] if cfg.wm.past_terminal == "absorb" else None
    starts = window_starts(bounds, layout.rows_needed(cfg.horizon), absorbing)
    if len(starts) < 2:
        raise ValueError(
            f"no episode of the dataset is longer than --horizon {cfg.horizon}: lower the horizon"
        )
    ends = episode_ends(bounds, starts) if absorbing is not None else None
    return layout.build_x(data, starts, cfg.horizon, ends), *build_conditions(
        data, starts, rtg, cfg.rtg_scale
    )


class StepZeroCheck:
    """Held-out quality of a world model: R² of its first generated velocity change against
    the real one (clipped rows left out), from one fixed noise draw."""

    def __init__(self, cfg, held: OfflineDataset, rows: int = QUALITY_ROWS):
        self.cfg = cfg
        self.layout = cfg.token_layout(held.obs_dim, held.act_dim)
        x, context, guide = windows(cfg, held)
        pick = np.random.default_rng(cfg.model_seed).permutation(len(x))[:rows]
        self.x, self.context, self.guide = x[pick], context[pick], guide[pick]
        self.scale = SimScale.of(held.observations, held.next_observations)
        gen = torch.Generator().manual_seed(cfg.model_seed)
        self.noise = torch.randn(self.x.shape, generator=gen).numpy()

    def __call__(self, model: DiffusionWorldModel) -> float:
        d = self.layout.obs_dim
        states, actions = self.context[:, :d], self.context[:, d:]
        out = model.sample(
            self.context,
            self.guide,
            sampling=self.cfg.sampling(),
            noise=self.noise,
            inpaint=self.layout.inpaint(states, actions, self.x.shape[1]),
        )
        real_next, model_next = self.x[:, 1, :d], out[:, 1, :d]
        return score(self.cfg.task, states, model_next, real_next, self.scale)["velocity_r2"]


def stale(quality: list[list[float]], patience: int, min_gain: float) -> bool:
    """No check among the last `patience` gained `min_gain` on the best before them."""
    if len(quality) <= patience:
        return False
    before = max(q for _, q in quality[:-patience])
    return max(q for _, q in quality[-patience:]) < before + min_gain


def run(ctx, out: Path) -> dict[str, Any]:
    cfg = ctx.cfg
    data, holdout = data_stage.load(ctx)
    early = cfg.wm.stop_patience is not None and holdout.any()
    train = data.select(np.flatnonzero(~holdout)) if early else data
    x, context, guide = windows(cfg, train)
    torch.manual_seed(cfg.model_seed)  # the initial weights: same seed, same model
    model = DiffusionWorldModel(model_config(cfg, data.obs_dim, data.act_dim), cfg.device)
    kernel = native.use_train_kernel(model, cfg.train_kernel, cfg.device)
    ckpt = out / CHECKPOINTS
    resumed_from = from_main(lambda: _checkpoint_step(ckpt / CHECKPOINT_FILE))
    held = data.select(np.flatnonzero(holdout)) if early else None
    with ScalarLog(ctx, "train-wm") as tb:
        history, quality = _train(ctx, model, (x, context, guide), held, ckpt, resumed_from, tb)
    if is_main():
        model.save(out / MODEL)
        write_json(out / "history.json", {**history.to_dict(), "step_zero_r2": quality})
    return {
        "windows": len(x),
        "steps": history.steps_done,
        "steps_cap": cfg.wm.steps,
        "stopped_early": bool(quality) and history.steps_done < cfg.wm.steps,
        "step_zero_r2": quality,
        "resumed_from": resumed_from,
        "final_loss": history.loss[-1] if history.loss else None,
        "final_val_loss": history.val_loss[-1] if history.val_loss else None,
        "steps_per_second": history.steps_per_second,
        "norm_mish_kernel": kernel,
        "rtg_scale": cfg.rtg_scale,
    }


def _train(ctx, model, arrays, held, ckpt: Path, resumed_from: int, tb: ScalarLog):
    """Fit to the step cap, or with held-out episodes `held` until the step-0 check on them
    stalls; returns (history, checks)."""
    cfg = ctx.cfg
    x, context, guide = arrays

    def fit(steps: int):
        return model.fit(
            x,
            context,
            guide,
            steps=steps,
            batch_size=cfg.wm.batch_size,
            lr=cfg.wm.lr,
            checkpoint_dir=ckpt,
            checkpoint_every=cfg.wm.checkpoint_every,
            resume=True,
            device=cfg.device,
            seed=cfg.model_seed,
            log_every=max(1, min(100, cfg.wm.steps // 50)),
            eval_every=max(1, min(500, cfg.wm.steps // 10)),
            on_log=lambda name, step, value: tb.scalar(f"world_model/{name}", step, value),
            precision=cfg.wm.precision,
            cuda_graph=cfg.cuda_graph,
        )

    quality: list[list[float]] = []
    history = None
    if held is not None:
        check = StepZeroCheck(cfg, held)
        path = ckpt / QUALITY

        # The checks belong to the checkpoint's run: none survive a fresh start (and the file
        # goes, or a crash before the first new check would bring them back).
        def checks_so_far() -> list[list[float]]:
            if not resumed_from:
                path.unlink(missing_ok=True)
                return []
            return read_or_set_aside(path, read_json) or []

        quality = from_main(checks_so_far)
        step = int(quality[-1][0]) if quality else 0
        while step < cfg.wm.steps and not stale(
            quality, cfg.wm.stop_patience, cfg.wm.stop_min_gain
        ):
            step = min(step + cfg.wm.stop_every, cfg.wm.steps)
            history = fit(step)
            quality.append([step, from_main(lambda: check(model))])  # rank 0 samples
            tb.scalar("world_model/step0_velocity_r2_heldout", step, quality[-1][1])
            if is_main():
                write_json(path, quality)
        if history is None:  # resumed after the last check: the checkpoint is at `step`
            history = fit(step)
    else:
        history = fit(cfg.wm.steps)
    return history, quality


def load(ctx) -> DiffusionWorldModel:
    return DiffusionWorldModel.load(ctx.dir("train-wm") / MODEL, device=ctx.cfg.device)
