"""How a real + DAWM TD3+BC agent fails on walker2d-medium-replay (docs/synthetic_diagnosis.md):
train on the bench stages' real data plus one part of the synthetic data, evaluate every 2,500
updates and print each evaluation's returns, episode lengths and final torso height and angle
(Walker2d ends an episode when the height leaves [0.8, 2] or the angle leaves [-1, 1]). One
JSON line per evaluation; 10k updates take a few minutes on one core.

    .venv/bin/python benchmarks/synthetic_collapse_probe.py --out /root/dawm_runs/experiments \
        --steps all            # or: first (step 0 only), inferred (steps 1..H-1); --only-step 1
    # --nearest-real: each synthetic row replaced by the real transition whose state is nearest
    # to its state (standardized): the generated states' distribution with the data's content
    # --actions nearest-real: only the action replaced by that real row's recorded one
    # --simulator: r, s', terminal from one simulator step from each synthetic (s, a); rows at
    # the env's velocity clip, where the simulator cannot start, are left out
    # --real-only: no synthetic rows (the probe's own yardstick)
    # another world model: generate its data first (python -m dawm_pipeline generate --env
    # walker2d-medium-replay --preset bench --wm.dim 128 --out ...), then add --wm-dim 128
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from dawm_pipeline.stage_graph import Context
from dawm_pipeline.stages.train_agent import select_steps, transitions, with_dynamics
from offline_agents import TD3BC, ReplayBuffer
from synthetic_diagnosis import TASK, variant_config
from synthetic_state_drift import nearest

EVAL_EVERY = 2_500
REPLACEABLE = ("terminals", "rewards", "next_observations")


def start_rows(observations: np.ndarray) -> dict[bytes, int]:
    """Real rows by their state's bytes: a step-0 synthetic row starts at an exact copy."""
    return {o.tobytes(): i for i, o in enumerate(observations)}


def real_step0_field(real, synthetic: dict[str, np.ndarray], field: str) -> np.ndarray:
    """`synthetic[field]` with every step-0 row's value replaced by its start row's real one:
    for the same (s_t, a_t) the simulator's outcome is known, whatever the world model drew."""
    index = start_rows(real["observations"])
    values = synthetic[field].copy()
    for row in np.flatnonzero(synthetic["step"] == 0):
        i = index.get(synthetic["observations"][row].tobytes())
        if i is not None:
            values[row] = real[field][i]
    return values


def nearest_real_rows(real, synthetic: dict[str, np.ndarray]) -> np.ndarray:
    """For each synthetic row, the real row whose state is nearest to its state (Euclidean,
    each dimension standardized by the real states' std). A step-0 row starts at a real state
    and gets its own start row back without a search."""
    obs = real["observations"]
    starts = start_rows(obs)
    index = np.array([
        starts.get(o.tobytes(), -1) if k == 0 else -1
        for o, k in zip(synthetic["observations"], synthetic["step"], strict=True)
    ])  # fmt: skip
    search = np.flatnonzero(index < 0)
    mean, std = obs.mean(0), obs.std(0) + 1e-6
    reference = torch.as_tensor(((obs - mean) / std).astype(np.float32))
    queries = ((synthetic["observations"][search] - mean) / std).astype(np.float32)
    index[search] = nearest(queries, reference)[1]
    return index


def nearest_real(real, synthetic: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`synthetic` with every row replaced by its nearest real transition: the real data
    re-weighted as the world model visits it, with the data's own actions and outcomes."""
    index = nearest_real_rows(real, synthetic)
    out = {k: real[k][index] for k in (*REPLACEABLE, "observations", "actions")}
    return out | {"step": synthetic["step"]}


def nearest_real_actions(real, synthetic: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`synthetic` with each row's action replaced by the recorded action of its nearest real
    row, the generated state kept: the IDM's labels swapped for the data's own choices."""
    return synthetic | {"actions": real["actions"][nearest_real_rows(real, synthetic)]}


def episode(agent: TD3BC, env_id: str, seed: int) -> tuple[float, int, np.ndarray]:
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    total, length, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
        total, length, done = total + float(reward), length + 1, terminated or truncated
    return total, length, obs


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="the bench runs' --out root")
    ap.add_argument("--steps", choices=("all", "first", "inferred"), default="all")
    ap.add_argument("--only-step", type=int, help="keep generated step k alone (0..H-1)")
    ap.add_argument(
        "--real",
        nargs="+",
        choices=REPLACEABLE,
        default=[],
        help="step-0 rows take these fields from the real row they start from",
    )
    ap.add_argument(
        "--real-dims",
        choices=("all", "velocities", "positions"),
        default="all",
        help="with --real next_observations: put back only the velocity entries (the task's "
        "velocity_dims) or only the others",
    )
    ap.add_argument(
        "--nearest-real",
        action="store_true",
        help="replace each synthetic row by the real transition nearest to its state",
    )
    ap.add_argument(
        "--actions",
        choices=("idm", "nearest-real"),
        default="idm",
        help="nearest-real: each synthetic row's action is the recorded one of the real row "
        "nearest to its state (the state kept)",
    )
    ap.add_argument(
        "--simulator",
        action="store_true",
        help="the simulator's r, s', terminal for each synthetic (s, a) (after --actions); "
        "rows at the velocity clip left out",
    )
    ap.add_argument("--real-only", action="store_true", help="no synthetic rows at all")
    ap.add_argument(
        "--seed",
        type=int,
        nargs="+",
        default=[100],
        help="agent seeds (100, 101: development), trained one after another on the same rows",
    )
    ap.add_argument("--wm-dim", type=int, help="the world model's width (default: the bench's)")
    ap.add_argument("--updates", type=int, default=10_000)
    ap.add_argument("--episodes", type=int, default=5)
    args = ap.parse_args()
    if args.nearest_real and (args.real or args.actions != "idm" or args.simulator):
        ap.error("--nearest-real replaces every field of every row: leave out --real, "
                 "--actions and --simulator")  # fmt: skip
    if args.simulator and args.real:
        ap.error("--simulator replaces r, s' and terminal of every row it keeps: leave out --real")
    if args.real_dims != "all" and "next_observations" not in args.real:
        ap.error("--real-dims goes with --real next_observations")
    if args.real_only and (args.nearest_real or args.real or args.actions != "idm"
                           or args.simulator or args.only_step is not None
                           or args.steps != "all" or args.wm_dim is not None):  # fmt: skip
        ap.error("--real-only trains on real rows alone: leave out every synthetic-row option")
    return args


def synthetic_rows(args: argparse.Namespace, cfg, ctx: Context, real) -> dict[str, np.ndarray]:
    """The generated rows with the options' replacements, in the order the help gives."""
    if not ctx.dir("generate").is_dir():
        raise SystemExit(f"no generate stage {ctx.dir('generate')}: run the pipeline's "
                         "generate stage for this world model first")  # fmt: skip
    synthetic = select_steps(dict(np.load(ctx.dir("generate") / "synthetic.npz")), args.steps)
    if args.only_step is not None:
        synthetic = {k: v[synthetic["step"] == args.only_step] for k, v in synthetic.items()}
        if not len(synthetic["step"]):
            raise SystemExit(f"--only-step {args.only_step}: no generated step of that index")
    for field in args.real:
        restored = real_step0_field(real, synthetic, field)
        if field == "next_observations" and args.real_dims != "all":
            lo, hi = cfg.task.robot.simulator.velocity_dims
            velocity = np.zeros(restored.shape[1], bool)
            velocity[lo:hi] = True
            keep = velocity if args.real_dims == "velocities" else ~velocity
            restored = np.where(keep, restored, synthetic[field])
        synthetic[field] = restored
    if args.nearest_real:
        synthetic = nearest_real(real, synthetic)
    if args.actions == "nearest-real":
        synthetic = nearest_real_actions(real, synthetic)
    if args.simulator:  # as the pipeline's option of that name does it
        replay = dataclasses.replace(cfg.agent, synthetic_dynamics="simulator-replayable")
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON lines
            synthetic = with_dynamics(dataclasses.replace(cfg, agent=replay), synthetic)
    return synthetic


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    overrides = {} if args.wm_dim is None else {"wm": {"dim": args.wm_dim}}
    cfg = variant_config("td3bc", overrides, args.out)  # the stages hold no agent seed
    ctx = Context(cfg, args.out / TASK / "diagnosis")
    real = dict(np.load(ctx.dir("data") / "real.npz"))  # an NpzFile rereads on every access
    if args.real_only:
        buffer = ReplayBuffer(transitions(real), device="cpu")
    else:
        synthetic = synthetic_rows(args, cfg, ctx, real)
        buffer = ReplayBuffer(
            transitions(real), transitions(synthetic), cfg.synthetic_share(), "cpu"
        )
    obs_dim, act_dim = real["observations"].shape[1], real["actions"].shape[1]
    for seed in args.seed:
        agent_cfg = dataclasses.replace(TD3BC.config_cls(), seed=seed, batch_size=256,
                                        hidden=(256, 256))  # fmt: skip
        agent = TD3BC(obs_dim, act_dim, np.ones(act_dim, np.float32), agent_cfg, "cpu")
        for done in range(EVAL_EVERY, args.updates + 1, EVAL_EVERY):
            agent.train([buffer], done, progress=False)
            runs = [episode(agent, cfg.task.robot.gym_id, 10_000 + i)
                    for i in range(args.episodes)]  # fmt: skip
            print(json.dumps({
                "seed": seed, "steps": args.steps, "only_step": args.only_step,
                "nearest_real": args.nearest_real, "actions": args.actions,
                "simulator": args.simulator, "real_only": args.real_only,
                "wm_dim": None if args.real_only else cfg.wm.dim, "real_fields": args.real,
                "real_dims": args.real_dims, "updates": done,
                "returns": [round(r, 1) for r, _, _ in runs], "lengths": [n for _, n, _ in runs],
                "final_height": [round(float(o[0]), 2) for _, _, o in runs],
                "final_angle": [round(float(o[1]), 2) for _, _, o in runs],
            }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
