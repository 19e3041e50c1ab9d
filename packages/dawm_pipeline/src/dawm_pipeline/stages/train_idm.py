"""Stage `train-idm`: fit the inverse dynamics model on real transitions only.

Resumable: the library checkpoints every epoch to `<stage>/checkpoint/`, and a rerun after an
interrupt continues from the last finished epoch (recorded as `resumed_from_epoch`) to the
same model an uninterrupted run trains.

Held-out real episodes (the data stage's split) measure its action accuracy, and the simulator
check measures how well its actions reproduce the real next states (the same yardstick the
generate stage applies to generated states).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from inverse_dynamics import FitConfig, IDMConfig, InverseDynamicsModel, evaluate, fit, make_windows
from inverse_dynamics import load as load_idm
from inverse_dynamics import save as save_idm
from inverse_dynamics.training import CHECKPOINT_FILE

from dawm_pipeline import simcheck
from dawm_pipeline.atomic import write_json
from dawm_pipeline.data.dataset import OfflineDataset
from dawm_pipeline.generate import at_action_bound
from dawm_pipeline.inprogress import read_or_set_aside
from dawm_pipeline.stages import data as data_stage
from dawm_pipeline.tblog import ScalarLog

MODEL = "model"
CHECKPOINTS = "checkpoint"
SIM_ROWS = 2000  # simulator-checked transitions (cheap: ~0.1 ms each)


def episodes(data: OfflineDataset) -> list[tuple[np.ndarray, np.ndarray]]:
    """(states s_0..s_T, actions a_0..a_{T-1}) per episode, as make_windows takes them."""
    return [
        (s, data.actions[b0:b1])
        for s, (b0, b1) in zip(data.episode_states(), data.bounds, strict=True)
    ]


def sim_scale(data: OfflineDataset) -> simcheck.SimScale:
    """The real data's variances: the simulator check's yardstick for real and generated."""
    return simcheck.SimScale.of(data.observations, data.next_observations)


def run(ctx, out: Path) -> dict[str, Any]:
    cfg = ctx.cfg
    data, holdout = data_stage.load(ctx)
    train = data.select(np.flatnonzero(~holdout))
    held = data.select(np.flatnonzero(holdout)) if holdout.any() else train
    m = cfg.idm.history
    windows, actions = make_windows(episodes(train), m)
    torch.manual_seed(cfg.model_seed)  # the initial weights: same seed, same model
    model = InverseDynamicsModel(
        IDMConfig(data.obs_dim, data.act_dim, history=m, hidden_sizes=cfg.idm.hidden_sizes),
        action_low=data.info.action_low,
        action_high=data.info.action_high,
    )
    tb = ScalarLog(ctx, "train-idm")
    # A checkpoint torn by a crash is moved aside with a warning; the fit then starts afresh.
    read_or_set_aside(out / CHECKPOINTS / CHECKPOINT_FILE, _checkpoint_format)
    result = fit(
        model,
        windows,
        actions,
        FitConfig(
            batch_size=cfg.idm.batch_size,
            lr=cfg.idm.lr,
            max_epochs=cfg.idm.max_epochs,
            patience=cfg.idm.patience,
            seed=cfg.model_seed,
            device=cfg.device,
            next_state_noise=cfg.idm.next_state_noise,
        ),
        on_epoch=lambda epoch, nll: tb.scalars("idm", epoch, nll),
        checkpoint_dir=out / CHECKPOINTS,
    )
    save_idm(model.cpu(), out / MODEL)

    held_windows, held_actions = make_windows(episodes(held), m)
    metrics = evaluate(model, held_windows, held_actions).to_dict()
    bound = at_bound_rates(model, held_windows, held_actions, data.info)
    rows = np.random.default_rng(cfg.model_seed).permutation(len(held))[:SIM_ROWS]
    # Window rows follow the transitions' order, so row i of held_windows is transition i.
    obs, nxt = held.observations[rows], held.next_observations[rows]
    predicted = model.predict(held_windows[rows])
    scale = sim_scale(data)
    sim = {
        "true_action": simcheck.consistency(cfg.task, obs, held.actions[rows], nxt, scale),
        "idm_action": simcheck.consistency(cfg.task, obs, predicted, nxt, scale),
        "random_action": simcheck.random_floor(cfg.task, obs, nxt, scale, cfg.model_seed),
    }
    write_json(out / "metrics.json", {"fit": result.to_dict(), "heldout": metrics, "sim": sim})
    summary = {
        "train_windows": len(windows),
        "heldout_transitions": len(held),
        "heldout_is_train": not bool(holdout.any()),
        "heldout_action_r2": metrics["r2"],
        "heldout_action_mse": metrics["mse"],
        "sim_r2_true_action": sim["true_action"]["delta_r2"],
        "sim_r2_idm_action": sim["idm_action"]["delta_r2"],
        "sim_state_r2_true_action": sim["true_action"]["state_r2"],
        "sim_state_r2_idm_action": sim["idm_action"]["state_r2"],
        **{f"sim_velocity_r2_{k}": v["velocity_r2"] for k, v in sim.items()},
        "sim_clipped_rows": sim["true_action"]["n_clipped"],
        "epochs": len(result.train_nll),
        "resumed_from_epoch": result.resumed_from_epoch,
        **bound,
    }
    with tb:
        tb.scalars("idm_heldout", result.best_epoch, summary)
    return summary


def _checkpoint_format(path: Path) -> str:
    return torch.load(path, map_location="cpu", weights_only=True)["format"]


def at_bound_rates(model: InverseDynamicsModel, windows, actions, info) -> dict[str, float]:
    """How often the IDM's action on real held-out windows sits at the action box's bound,
    beside the recorded actions': the like-for-like yardstick for the generated data's rate.
    Its mean is clipped to the box, so where the behaviour saturates near ±1 an IDM lands at
    the bound more often than the recorded actions even on real transitions."""
    low, high = info.action_low, info.action_high
    return {
        "idm_at_bound_real": float(at_action_bound(model.predict(windows), low, high).mean()),
        "recorded_at_bound_heldout": float(at_action_bound(actions, low, high).mean()),
    }


def load(ctx) -> InverseDynamicsModel:
    return load_idm(ctx.dir("train-idm") / MODEL, device=ctx.cfg.device)
