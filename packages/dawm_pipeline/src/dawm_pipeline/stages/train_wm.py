"""Stage `train-wm`: fit the diffusion world model on real (x, context, guide) windows.

Resumable: the library checkpoints to `<stage>/checkpoint/` and a rerun after an interrupt
continues from the last checkpoint's step (recorded as `resumed_from`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusion_wm import DiffusionWorldModel, WorldModelConfig
from diffusion_wm.training import CHECKPOINT_FILE

from dawm_pipeline.atomic import write_json
from dawm_pipeline.sequences import (
    build_conditions,
    returns_to_go,
    sequence_length,
    window_starts,
)
from dawm_pipeline.stages import data as data_stage

MODEL = "model"
CHECKPOINTS = "checkpoint"


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
    if not path.is_file():
        return 0
    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


def run(ctx, out: Path) -> dict[str, Any]:
    cfg = ctx.cfg
    data, _ = data_stage.load(ctx)
    rtg = returns_to_go(data.rewards, data.bounds, cfg.gamma)
    layout = cfg.token_layout(data.obs_dim, data.act_dim)
    starts = window_starts(data.bounds, layout.rows_needed(cfg.horizon))
    if len(starts) < 2:
        raise ValueError(
            f"no episode of the dataset is longer than --horizon {cfg.horizon}: lower the horizon"
        )
    x = layout.build_x(data, starts, cfg.horizon)
    context, guide = build_conditions(data, starts, rtg, cfg.rtg_scale)
    torch.manual_seed(cfg.model_seed)  # the initial weights: same seed, same model
    model = DiffusionWorldModel(model_config(cfg, data.obs_dim, data.act_dim), cfg.device)
    ckpt = out / CHECKPOINTS
    resumed_from = _checkpoint_step(ckpt / CHECKPOINT_FILE)
    history = model.fit(
        x,
        context,
        guide,
        steps=cfg.wm.steps,
        batch_size=cfg.wm.batch_size,
        lr=cfg.wm.lr,
        checkpoint_dir=ckpt,
        checkpoint_every=cfg.wm.checkpoint_every,
        resume=True,
        device=cfg.device,
        seed=cfg.model_seed,
        log_every=max(1, min(100, cfg.wm.steps // 50)),
        eval_every=max(1, min(500, cfg.wm.steps // 10)),
    )
    model.save(out / MODEL)
    write_json(out / "history.json", history.to_dict())
    return {
        "windows": len(x),
        "steps": cfg.wm.steps,
        "resumed_from": resumed_from,
        "final_loss": history.loss[-1] if history.loss else None,
        "final_val_loss": history.val_loss[-1] if history.val_loss else None,
        "steps_per_second": history.steps_per_second,
        "rtg_scale": cfg.rtg_scale,
    }


def load(ctx) -> DiffusionWorldModel:
    return DiffusionWorldModel.load(ctx.dir("train-wm") / MODEL, device=ctx.cfg.device)
