"""Stage `generate`: synthetic transitions, their statistics and the simulator check.

Rollouts start from real (s_t, a_t) pairs drawn uniformly from the (DAWM-T-scaled) real data
(with replacement once more rollouts are needed than there are pairs). Work goes in chunks of
CHUNK rollouts, each saved as it finishes with noise that depends only on (seed, chunk), so an
interrupted stage resumes at the next chunk and yields exactly what an uninterrupted run does.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dawm_pipeline import generate as gen
from dawm_pipeline import native, simcheck
from dawm_pipeline.atomic import read_npz, write_json, write_npz
from dawm_pipeline.fidelity import step_zero_fidelity
from dawm_pipeline.inprogress import read_or_set_aside
from dawm_pipeline.sequences import returns_to_go, sequence_length
from dawm_pipeline.stages import data as data_stage
from dawm_pipeline.stages import train_idm, train_wm
from dawm_pipeline.tblog import ScalarLog

SYNTHETIC = "synthetic.npz"
CHUNKS = "chunks"
CHUNK = 8192
SIM_ROWS = 2000
PROJECTION_ROWS = 5000
IDM_DROP_FLAG = 0.15  # flag when the IDM's simulator R² on generated states drops by > 15%
REWARD_BINS = 50


def target_rtg(cfg, rtg: np.ndarray) -> float:
    """The one normalized R_tg every rollout is guided to (rtg_source quantile or target)."""
    if cfg.gen.rtg_source == "quantile":
        return float(np.quantile(rtg, cfg.gen.rtg_quantile) / cfg.rtg_scale)
    return cfg.gen.target_rtg if cfg.gen.target_rtg is not None else cfg.task.target_rtg


def _guide(cfg, rtg: np.ndarray, rows: np.ndarray) -> np.ndarray:
    if cfg.gen.rtg_source != "data":
        target = target_rtg(cfg, rtg)
        return np.full((len(rows), 1), target, np.float32)
    return (rtg[rows] / cfg.rtg_scale).astype(np.float32)[:, None]


def target_transitions(cfg, n_real: int) -> int:
    """How many synthetic transitions the stage aims at: ratio x real, within the cap."""
    n_target = round(cfg.synthetic_ratio * n_real)
    if cfg.gen.max_transitions is not None:
        n_target = min(n_target, cfg.gen.max_transitions)
    return n_target


def rollout_starts(cfg, n_real: int) -> np.ndarray:
    """The real rows the rollouts start from, in rollout order (uniform, seeded)."""
    n_rollouts = math.ceil(target_transitions(cfg, n_real) / cfg.horizon)
    rng = np.random.default_rng(cfg.model_seed)
    return rng.choice(n_real, n_rollouts, replace=n_rollouts > n_real)


def step_zero_falls(robot, data, starts: np.ndarray, synthetic: dict) -> dict[str, float]:
    """How the world model's first step, which takes the real a_t, treats real falls.

    Of the rollouts that start on a row whose real next state ends its episode (a
    termination), the share whose generated step 0 ends it too (`fall_recall_step0`), and the
    transitions kept after a fall it missed (`steps_after_missed_fall`: steps the real env never
    had; rows dropped by --gen.drop-at-bound are not counted); of the other rollouts, the share
    whose step 0 ends them where the real step did not (`false_fall_step0`). The robot's
    health check on the real next states gives the yardstick (`real_*`: 1 and 0 when it
    reproduces the recorded terminations). Rollouts are in start order, one step-0 row each
    (never dropped). Data without terminations (halfcheetah, Pusher) give only the count, 0."""
    step0 = np.flatnonzero(synthetic["step"] == 0)
    if len(step0) != len(starts):
        raise ValueError(f"{len(step0)} rollouts in the synthetic data for {len(starts)} starts")
    fell = data.terminals[starts]
    if not fell.any():
        return {"fall_starts": 0}
    lengths = np.diff(np.append(step0, len(synthetic["step"])))
    model = synthetic["terminals"][step0]
    real = robot.terminal_flags(data.next_observations[starts])

    def share(flags: np.ndarray, among: np.ndarray) -> float:
        return float(flags[among].mean()) if among.any() else 0.0

    return {
        "fall_starts": int(fell.sum()),
        "fall_recall_step0": share(model, fell),
        "false_fall_step0": share(model, ~fell),
        "steps_after_missed_fall": int((lengths[fell & ~model] - 1).sum()),
        "real_fall_recall": share(real, fell),
        "real_false_fall": share(real, ~fell),
    }


def _rollouts(cfg, layout, wm, idm, engine, states, actions, guide, noise) -> gen.Rollouts:
    """Rollouts from the native engine when one was built, else from the PyTorch path."""
    if engine is not None:
        return gen.native_generate(engine, states, actions, guide, noise)
    return gen.torch_generate(wm, idm, states, actions, guide, noise, cfg.sampling(), layout)


def _noise(cfg, layout, seed: int, chunk: int, n: int) -> np.ndarray:
    return gen.initial_noise(seed, chunk, n, sequence_length(cfg.horizon), layout.x_dim)


def _sample(cfg, data, rtg, rows, wm, idm, engine, chunk: int) -> dict:
    states, actions = data.observations[rows], data.actions[rows]
    guide = _guide(cfg, rtg, rows)
    layout = cfg.token_layout(data.obs_dim, data.act_dim)
    noise = _noise(cfg, layout, cfg.model_seed, chunk, len(rows))
    rollouts = _rollouts(cfg, layout, wm, idm, engine, states, actions, guide, noise)
    low, high = data.info.action_low, data.info.action_high
    return gen.to_transitions(cfg.task.robot, states, rollouts, guide[:, 0], low, high)


def run(ctx, out: Path) -> dict[str, Any]:
    cfg = ctx.cfg
    data, _ = data_stage.load(ctx)
    wm, idm = train_wm.load(ctx), train_idm.load(ctx)
    sampler = native.resolve(cfg.sampler, "--sampler")
    layout = cfg.token_layout(data.obs_dim, data.act_dim)
    engine = None
    if sampler == "native":
        engine = gen.native_engine(wm, idm, cfg.sampling(), layout, cfg.device)
    rtg = returns_to_go(data.rewards, data.bounds, cfg.gamma)
    n_target = target_transitions(cfg, len(data))
    starts = rollout_starts(cfg, len(data))
    n_rollouts = len(starts)
    chunk_dir = out / CHUNKS
    chunk_dir.mkdir(exist_ok=True)
    n_chunks = math.ceil(n_rollouts / CHUNK)
    for c in tqdm(range(n_chunks), desc=f"generate ({sampler})", unit="chunk"):
        path = chunk_dir / f"{c:05d}.npz"
        if read_or_set_aside(path, read_npz) is not None:
            continue  # finished before an interrupt (a torn chunk is moved aside and redone)
        rows = starts[c * CHUNK : (c + 1) * CHUNK]
        write_npz(path, _sample(cfg, data, rtg, rows, wm, idm, engine, c))
    low, high = data.info.action_low, data.info.action_high
    parts = [
        with_at_bound(read_npz(chunk_dir / f"{c:05d}.npz"), low, high) for c in range(n_chunks)
    ]
    synthetic = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    bounds = action_bound_rates(data, synthetic)
    dropped = 0
    if cfg.gen.drop_at_bound and synthetic:
        synthetic, dropped = without_at_bound(synthetic)
    if synthetic:
        write_npz(out / SYNTHETIC, synthetic)
    shutil.rmtree(chunk_dir)

    falls = step_zero_falls(cfg.task.robot, data, starts, synthetic) if synthetic else {}
    stats = statistics(data, synthetic)
    checks = sim_checks(ctx, data, synthetic)
    checks["wm_fidelity"] = wm_fidelity(cfg, data, rtg, wm, idm, engine)
    write_json(out / "stats.json", {"stats": stats, "sim": checks})
    write_projection(out, data, synthetic, cfg.model_seed)
    summary = {
        "sampler": sampler,
        "rollouts": n_rollouts,
        "transitions": len(synthetic.get("rewards", [])),
        "target_transitions": n_target,
        "real_transitions": len(data),
        "terminal_fraction": float(synthetic["terminals"].mean()) if synthetic else 0.0,
        "rtg_source": cfg.gen.rtg_source,
        "rtg_target": None if cfg.gen.rtg_source == "data" else target_rtg(cfg, rtg),
        "idm_sim_r2_generated": checks["generated_idm_steps"]["delta_r2"],
        "idm_velocity_r2_generated": checks["generated_idm_steps"]["velocity_r2"],
        "idm_velocity_r2_real": checks["real_idm_velocity_r2"],
        "idm_velocity_relative_drop": checks["idm_velocity_relative_drop"],
        "wm_sim_r2_step0": checks["generated_step0"]["delta_r2"],
        "idm_drop_flag": checks["idm_drop_flag"],
        **bounds,
        "dropped_at_bound": dropped,
        **falls,
        **{f"wm_{k}": v for k, v in checks["wm_fidelity"].items() if k not in ("n",)},
    }
    with ScalarLog(ctx, "generate") as tb:
        tb.scalars("generation", 0, summary)
    return summary


def wm_fidelity(cfg, data, rtg, wm, idm, engine) -> dict[str, float]:
    """Step-0 fidelity against the simulator (fidelity.py) on SIM_ROWS real start rows,
    sampled by the backend that generated the data, from one fixed noise draw."""
    rows = np.random.default_rng(cfg.model_seed + 3).permutation(len(data))[:SIM_ROWS]
    guide = _guide(cfg, rtg, rows)
    layout = cfg.token_layout(data.obs_dim, data.act_dim)
    noise = _noise(cfg, layout, cfg.model_seed + 1, 0, len(rows))

    def step_zero(states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = _rollouts(cfg, layout, wm, idm, engine, states, actions, guide, noise)
        return out.states[:, 0], out.rewards[:, 0]

    return step_zero_fidelity(
        cfg.task,
        step_zero,
        data.observations[rows],
        data.actions[rows],
        train_idm.sim_scale(data),
        float(data.rewards.var()),
        cfg.model_seed,
    )


def action_bound_rates(data, synthetic: dict[str, np.ndarray]) -> dict[str, float]:
    """How often an action sits at the action box's bound: the IDM's inferred actions (all
    generated steps >= 1, before any are dropped) beside the real data's recorded actions.
    Compare the inferred rate with the same IDM's on real held-out windows (train-idm's
    `idm_at_bound_real`), not with the recorded one: the IDM's mean is clipped to the box, so
    where the behaviour saturates near a bound it lands there more often even on real data."""
    low, high = data.info.action_low, data.info.action_high
    inferred = synthetic["at_bound"][synthetic["step"] > 0] if synthetic else np.zeros(0)
    return {
        "idm_at_bound_generated": float(inferred.mean()) if len(inferred) else 0.0,
        "real_at_bound": float(gen.at_action_bound(data.actions, low, high).mean()),
    }


def with_at_bound(chunk: dict[str, np.ndarray], low, high) -> dict[str, np.ndarray]:
    """A chunk with its `at_bound` column, computed for chunks written before it existed (an
    interrupted stage of earlier code resumes with the same hash)."""
    if "at_bound" in chunk:
        return chunk
    return {**chunk, "at_bound": gen.inferred_at_bound(chunk["actions"], chunk["step"], low, high)}


def without_at_bound(synthetic: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    """The transitions whose inferred action is not at the action bound, and how many were
    left out (`--gen.drop-at-bound`)."""
    keep = ~synthetic["at_bound"]
    return {k: v[keep] for k, v in synthetic.items()}, int((~keep).sum())


def statistics(data, synthetic: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per-dimension means/stds of states, actions and rewards, real vs generated.

    States are next states (every generated one is model output; ŝ_0 is the real s_t), and
    generated actions are the IDM's (steps 1..H-1; step 0 carries the real a_t).
    """
    lo = float(min(data.rewards.min(), synthetic["rewards"].min()))
    hi = float(max(data.rewards.max(), synthetic["rewards"].max()))
    edges = np.linspace(lo, hi if hi > lo else lo + 1, REWARD_BINS + 1)

    def describe(obs, act, rew) -> dict[str, Any]:
        return {
            "obs_mean": obs.mean(0),
            "obs_std": obs.std(0),
            "act_mean": act.mean(0) if len(act) else None,
            "act_std": act.std(0) if len(act) else None,
            "reward_mean": float(rew.mean()),
            "reward_std": float(rew.std()),
            "reward_hist": np.histogram(rew, edges)[0],
        }

    inferred = synthetic["actions"][synthetic["step"] > 0]
    real = describe(data.next_observations, data.actions, data.rewards)
    fake = describe(synthetic["next_observations"], inferred, synthetic["rewards"])
    return {
        "real": real,
        "generated": fake,
        "reward_edges": edges,
        "obs_std_ratio": fake["obs_std"] / np.maximum(real["obs_std"], 1e-8),
        "obs_mean_shift_in_std": (fake["obs_mean"] - real["obs_mean"])
        / np.maximum(real["obs_std"], 1e-8),
    }


def sim_checks(ctx, data, synthetic: dict[str, np.ndarray]) -> dict[str, Any]:
    """Simulator consistency of generated transitions next to the IDM's real-data figure.

    step 0 uses the real a_t, so its score measures the world model alone; later steps use
    IDM actions on generated states and measure world model and IDM together.
    """
    cfg = ctx.cfg
    scale = train_idm.sim_scale(data)
    rng = np.random.default_rng(cfg.model_seed + 1)
    out: dict[str, Any] = {}
    for name, rows in (
        ("generated_step0", np.flatnonzero(synthetic["step"] == 0)),
        ("generated_idm_steps", np.flatnonzero(synthetic["step"] > 0)),
    ):
        pick = rng.permutation(rows)[:SIM_ROWS]
        out[name] = (
            simcheck.consistency(
                cfg.task,
                synthetic["observations"][pick],
                synthetic["actions"][pick],
                synthetic["next_observations"][pick],
                scale,
            )
            if len(pick)
            else dict.fromkeys(("delta_r2", "velocity_r2", "state_r2", "next_state_rmse"), np.nan)
            | {"n": 0, "n_clipped": 0}
        )
    idm = ctx.done("train-idm")["summary"]

    def drop(real: float, generated: float) -> float:
        return (real - generated) / abs(real) if real else float("nan")

    out["real_idm_action"] = idm["sim_r2_idm_action"]
    out["idm_relative_drop"] = drop(
        idm["sim_r2_idm_action"], out["generated_idm_steps"]["delta_r2"]
    )
    # The flag compares velocity changes (the part an action moves): the all-dimension R²
    # hides action errors behind positions that barely move in one step.
    out["real_idm_velocity_r2"] = idm["sim_velocity_r2_idm_action"]
    out["idm_velocity_relative_drop"] = drop(
        idm["sim_velocity_r2_idm_action"], out["generated_idm_steps"]["velocity_r2"]
    )
    out["idm_drop_flag"] = bool(out["idm_velocity_relative_drop"] > IDM_DROP_FLAG)
    return out


def write_projection(out: Path, data, synthetic: dict[str, np.ndarray], seed: int) -> None:
    """A 2-D PCA of real states (fit on real) with real and generated samples projected."""
    rng = np.random.default_rng(seed + 2)
    real = data.next_observations[rng.permutation(len(data))[:PROJECTION_ROWS]]
    fake = synthetic["next_observations"][
        rng.permutation(len(synthetic["rewards"]))[:PROJECTION_ROWS]
    ]
    mean, std = real.mean(0), np.maximum(real.std(0), 1e-8)
    _, _, vt = np.linalg.svd((real - mean) / std, full_matrices=False)
    basis = vt[:2].T
    write_npz(
        out / "projection.npz",
        {"real": ((real - mean) / std) @ basis, "generated": ((fake - mean) / std) @ basis},
    )


def load(ctx) -> dict[str, np.ndarray]:
    path = ctx.dir("generate") / SYNTHETIC
    return read_npz(path) if path.exists() else {}
