"""How far DAWM's generated states sit from the real data's, step by step, and how far the
IDM's actions there sit from what the data did at the nearest real state
(docs/synthetic_diagnosis.md). Reads the bench stages of each --task in a stage store and
prints one JSON line per task.

Distances are Euclidean in per-dimension standardized state units (the real training rows'
mean and std), to the nearest real training state. The yardsticks, measured the same way:
- real held-out states (the IDM's held-out episodes): how far a new state of the data's own
  behaviour sits, what a generated state should match;
- the same states with Gaussian noise of `NOISE` std per dimension: a shift the measure must
  flag (the check of the check: its distance must come out well above the held-out one).

The action gap is the mean absolute difference, per action dimension, between the action a
row carries (the IDM's at a generated step, the recorded one at a real row) and the recorded
action of its nearest real training state.

Next states, measured the same way: a row's next state is where TD3+BC's and IQL's critics
bootstrap. For the held-out rows, their recorded next state; for each generated step, the
world model's ŝ' and the simulator's next state from the row's (s, a) (rows at the env's
velocity clip, which the simulator cannot start from, left out): how far the targets of the
synthetic rows sit from any state the data visits.

    .venv/bin/python benchmarks/synthetic_state_drift.py --out /root/dawm_runs/bench/runs \\
        --tasks halfcheetah-medium walker2d-medium-replay --json docs/results/state_drift.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from dawm_pipeline.experiments.plan import TASKS
from dawm_pipeline.simcheck import clipped_rows, simulate
from dawm_pipeline.stage_graph import Context
from dawm_pipeline.stages import data as data_stage
from dawm_pipeline.stages import generate
from synthetic_diagnosis import variant_config

ROWS = 2_000  # sampled rows per generation step and per yardstick
NOISE = 0.5  # the noisy yardstick's noise, in standard deviations per dimension
CHUNK = 256  # query rows per distance block (a block is CHUNK x reference rows of floats)


def nearest(queries: np.ndarray, reference: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each query's nearest reference row (both standardized). Squared
    distances as |r|^2 - 2 q.r (+ |q|^2 after the minimum), one preallocated block of CHUNK
    rows at a time: no full distance matrix and no allocation per block."""
    if not len(queries):
        return np.empty(0, np.float32), np.empty(0, np.int64)
    ref_sq = (reference * reference).sum(1)
    block = torch.empty(CHUNK, len(reference), dtype=reference.dtype)
    dist, index = [], []
    for start in range(0, len(queries), CHUNK):
        q = torch.as_tensor(queries[start : start + CHUNK], dtype=reference.dtype)
        out = block[: len(q)]
        torch.addmm(ref_sq, q, reference.T, beta=1.0, alpha=-2.0, out=out)
        d, i = out.min(dim=1)
        dist.append((d + (q * q).sum(1)).clamp_min(0).sqrt().numpy())
        index.append(i.numpy())
    return np.concatenate(dist), np.concatenate(index)


def distance_summary(dist: np.ndarray) -> dict[str, float]:
    """Median and 90th-percentile of distances to the nearest real state (NaN for none)."""
    if not len(dist):
        return {"distance_median": float("nan"), "distance_p90": float("nan"), "rows": 0}
    median, p90 = np.median(dist), np.quantile(dist, 0.9)
    return {"distance_median": float(median), "distance_p90": float(p90), "rows": len(dist)}


def drift_row(
    queries: np.ndarray, actions: np.ndarray, reference, ref_actions, mean, std
) -> dict[str, float]:
    """The states' distances to the nearest real state, and the action gap there."""
    dist, index = nearest(((queries - mean) / std).astype(np.float32), reference)
    gap = np.abs(actions - ref_actions[index]).mean()
    return distance_summary(dist) | {"action_gap": float(gap)}


def next_state_row(next_obs: np.ndarray, reference, mean, std) -> dict[str, float]:
    """The next states' distances to the nearest real state."""
    return distance_summary(nearest(((next_obs - mean) / std).astype(np.float32), reference)[0])


def simulated_next(task, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """One simulator step from each replayable (s, a); rows at the velocity clip left out."""
    keep = ~clipped_rows(task, obs)
    return simulate(task, obs[keep], actions[keep])[0]


def sample(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(n, size=min(ROWS, n), replace=False)


def task_drift(out: Path, task: str, seed: int = 0) -> dict | None:
    """The task's yardsticks and per-step rows, None without its bench stages in `out`."""
    cfg = variant_config("td3bc", {}, out, seed=0, steps=None, task=task)
    ctx = Context(cfg, out / task / "diagnosis")
    synthetic = generate.load(ctx)
    if not synthetic or not (ctx.dir("data") / "done.json").is_file():
        return None
    data, holdout = data_stage.load(ctx)
    train, heldout = (data.select(np.flatnonzero(keep)) for keep in (~holdout, holdout))
    train_obs, train_act = train.observations, train.actions
    mean, std = train_obs.mean(0), train_obs.std(0) + 1e-6
    reference = torch.as_tensor(((train_obs - mean) / std).astype(np.float32))
    rng = np.random.default_rng(seed)
    held = sample(len(heldout.observations), rng)
    held_obs, held_act = heldout.observations[held], heldout.actions[held]
    noisy = held_obs + NOISE * std * rng.standard_normal(held_obs.shape)
    args = (reference, train_act, mean, std)
    next_args = (reference, mean, std)
    result = {
        "task": task,
        "reference_rows": len(train_obs),
        "real_heldout": drift_row(held_obs, held_act, *args),
        f"real_heldout_noise_{NOISE:g}std": drift_row(noisy, held_act, *args),
        "real_heldout_next": next_state_row(heldout.next_observations[held], *next_args),
        "steps": {},
        "next_steps": {},
    }
    for k in np.unique(synthetic["step"]):
        at_k = np.flatnonzero(synthetic["step"] == k)
        pick = at_k[sample(len(at_k), rng)]
        obs, act = synthetic["observations"][pick], synthetic["actions"][pick]
        result["steps"][int(k)] = drift_row(obs, act, *args)
        result["next_steps"][int(k)] = {
            "model": next_state_row(synthetic["next_observations"][pick], *next_args),
            "simulator": next_state_row(simulated_next(cfg.task, obs, act), *next_args),
        }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="the stage store (--out of the runs)")
    ap.add_argument("--tasks", nargs="+", required=True, choices=TASKS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the lines here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lines = []
    for task in args.tasks:
        row = task_drift(args.out, task)
        line = json.dumps(row if row is not None else {"task": task, "missing": "no bench stages"})
        print(line, flush=True)
        lines.append(line)
    if args.json:
        args.json.write_text("".join(line + "\n" for line in lines))


if __name__ == "__main__":
    main()
