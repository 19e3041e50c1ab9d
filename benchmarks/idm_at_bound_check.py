"""The IDM's at-bound rate on real held-out windows, for IDM stages trained before the
train-idm stage reported it (`idm_at_bound_real`), beside each generate stage's rate.

How often an IDM-inferred action sits at the action bound means little next to the recorded
actions alone: the IDM's mean is clipped to the box, so where the behaviour saturates near ±1
it lands at the bound more often even on real transitions. One JSON line per (task, IDM
stage), with every generate stage that used that IDM.

    .venv/bin/python benchmarks/idm_at_bound_check.py --out /root/dawm_runs/experiments \
        --envs walker2d-medium-replay halfcheetah-medium
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from agents_batched import cpu_model  # this folder: the scripts run from here
from dawm_pipeline.atomic import read_json
from dawm_pipeline.config import preset
from dawm_pipeline.generate import AT_BOUND_TOLERANCE, at_action_bound
from dawm_pipeline.stage_graph import STAGE_STORE, Context
from dawm_pipeline.stages import data as data_stage
from dawm_pipeline.stages.train_idm import MODEL, at_bound_rates, episodes
from inverse_dynamics import load as load_idm
from inverse_dynamics import make_windows


def generate_rates(store: Path, idm_hash: str, info) -> list[dict]:
    """The generate stages of `store` that read this IDM, with their settings, rate and how
    close to the bound their inferred actions sit (the tolerances of `near_bound`)."""
    out = []
    for stage in sorted(store.glob("generate-*")):
        if not (stage / "done.json").is_file():
            continue
        inputs = read_json(stage / "inputs.json")["inputs"]
        if not inputs["upstream"].get("train-idm", "").startswith(idm_hash):
            continue
        summary = read_json(stage / "done.json").get("summary", {})
        gen = inputs["settings"]["gen"]
        out.append(
            {
                "stage": stage.name,
                "world_model": inputs["upstream"]["train-wm"][:12],
                "rtg_source": gen.get("rtg_source"),
                "drop_at_bound": gen.get("drop_at_bound", False),
                "idm_at_bound_generated": summary.get("idm_at_bound_generated"),
                **synthetic_summary(stage, info),
            }
        )
    return out


def synthetic_summary(stage: Path, info) -> dict:
    """A generate stage's actions: how close to the bound, how large; and its mean reward."""
    with np.load(stage / "synthetic.npz") as synthetic:
        actions, rewards = synthetic["actions"], synthetic["rewards"]
    return {
        "generated_near_bound": near_bound(actions, info),
        "generated_mean_abs_action": float(np.abs(actions).mean()),
        "generated_mean_reward": float(rewards.mean()),
    }


def near_bound(actions: np.ndarray, info) -> dict[str, float]:
    """Share of actions within 0.1% (the check's tolerance), 1% and 2.5% of the box's
    width of a bound in some dimension: how close to ±1 the behaviour saturates."""
    low, high = info.action_low, info.action_high
    return {
        f"{100 * fraction:g}%": float(at_action_bound(actions, low, high, fraction).mean())
        for fraction in (AT_BOUND_TOLERANCE, 0.01, 0.025)
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="the stage store's root (--out)")
    p.add_argument("--envs", nargs="+", required=True)
    p.add_argument("--preset", default="bench", help="whose data stage holds the split")
    args = p.parse_args()
    torch.set_num_threads(1)
    for env in args.envs:
        cfg = preset(args.preset)
        cfg.env, cfg.out = env, str(args.out)
        ctx = Context(cfg, args.out / env / "idm-at-bound-check")
        if not (ctx.dir("data") / "done.json").is_file():
            raise SystemExit(f"{env}: no finished data stage at {ctx.dir('data')}: run it first")
        data, holdout = data_stage.load(ctx)
        if not holdout.any():
            raise SystemExit(f"{env}: the data stage holds out no episodes: nothing to check on")
        held = data.select(np.flatnonzero(holdout))
        store = args.out / env / STAGE_STORE
        data_hash = ctx.dir("data").name.removeprefix("data-")
        for stage in sorted(store.glob("train-idm-*")):
            upstream = read_json(stage / "inputs.json")["inputs"]["upstream"]["data"]
            if not upstream.startswith(data_hash):  # trained on another split: not held out
                print(f"{env}: {stage.name} read another data stage, skipped", flush=True)
                continue
            model = load_idm(stage / MODEL)
            windows, actions = make_windows(episodes(held), model.config.history)
            idm_hash = stage.name.removeprefix("train-idm-")
            row = {"env": env, "idm_stage": stage.name, "heldout_windows": len(windows)}
            row["measured"] = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu_model()}
            row |= at_bound_rates(model, windows, actions, data.info)
            row["recorded_near_bound"] = near_bound(actions, data.info)
            row["data_mean_abs_action"] = float(np.abs(data.actions).mean())
            row["data_mean_reward"] = float(data.rewards.mean())
            row["generate"] = generate_rates(store, idm_hash, data.info)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
