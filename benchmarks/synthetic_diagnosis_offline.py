"""Offline measurements behind docs/synthetic_diagnosis.md, on the default variant's stages of
benchmarks/synthetic_diagnosis.py (walker2d-medium-replay unless --task, bench preset).
Step-0 synthetic rows start from a real row (same s_t and a_t), so they can be set beside that
row's real s_{t+1}. Prints one JSON object:

- the world model's step-0 error per state dimension, as a fraction of the dimension's std;
- how often the IDM's action sits at the bound for the real s_{t+1}, for the generated
  ŝ_{t+1}, and for the real s_{t+1} plus the generated errors (shuffled across rows);
- how well the IDM's action recovers the recorded a_t from the real s_{t+1}, from the
  generated ŝ_{t+1} and from the real one plus the shuffled errors (R² over action dimensions,
  mean absolute error), on the rows of the IDM's held-out episodes: what a generated next
  state does to the labels of the IDM-labelled steps, measured where the true action is known;
- the terminal rate of those rows, real vs generated;
- the value a critic trained on real data only (bench TD3+BC seed 0) gives the real and the
  generated next states, and the value the real + DAWM critic of that seed gives them (left
  out when the store holds no such agents).

With --task, the same on another dataset's bench stages (e.g. halfcheetah-medium under the
bench queue's --out /root/dawm_runs/bench/runs).

    .venv/bin/python benchmarks/synthetic_diagnosis_offline.py --out /root/dawm_runs/experiments
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from dawm_pipeline.experiments.plan import TASKS
from dawm_pipeline.generate import at_action_bound
from dawm_pipeline.stage_graph import Context
from dawm_pipeline.stages import data as data_stage
from dawm_pipeline.stages.train_agent import job_name
from inverse_dynamics import load as load_idm
from inverse_dynamics.metrics import r2_per_dimension
from offline_agents import TD3BC
from synthetic_diagnosis import TASK, variant_config

ROWS = 30_000


def matched_rows(real: dict, synthetic: dict) -> tuple[np.ndarray, np.ndarray]:
    """Indices of step-0 synthetic rows and of the real rows they started from."""
    index = {o.tobytes(): i for i, o in enumerate(real["observations"])}
    s0 = np.flatnonzero(synthetic["step"] == 0)[:ROWS]
    ri = np.array([index.get(o.tobytes(), -1) for o in synthetic["observations"][s0]])
    return s0[ri >= 0], ri[ri >= 0]


def state_value(agent: TD3BC, obs: np.ndarray) -> np.ndarray:
    """min(Q1, Q2)(s, π(s)) of a single TD3+BC agent."""
    x = (torch.as_tensor(obs, dtype=torch.float32) - agent.obs_mean[0]) / agent.obs_std[0]
    with torch.no_grad():
        pi = agent._policy(x[None])[0]
        return agent.critic(torch.cat([x, pi], -1)[None]).view(2, -1).amin(0).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="the runs' --out root")
    ap.add_argument("--task", default=TASK, choices=TASKS, help=f"the dataset (default {TASK})")
    args = ap.parse_args()
    cfg = variant_config("td3bc", {}, args.out, seed=0, steps=None, task=args.task)  # seed 0
    ctx = Context(cfg, args.out / args.task / "diagnosis")
    real = dict(np.load(ctx.dir("data") / "real.npz"))
    syn = dict(np.load(ctx.dir("generate") / "synthetic.npz"))
    info = data_stage.load_info(ctx)
    s0, ri = matched_rows(real, syn)
    nxt_real, nxt_gen = real["next_observations"][ri], syn["next_observations"][s0]
    error = nxt_gen - nxt_real
    idm = load_idm(ctx.dir("train-idm") / "model")
    # history 1; an episode's first row takes the previous episode's last state (rare)
    prev = real["observations"][np.maximum(ri - 1, 0)]
    low, high = info.action_low, info.action_high
    recorded = real["actions"][ri]
    # the IDM's held-out episodes: there its error on real next states is out of sample
    heldout = np.repeat(real["idm_holdout"], real["episode_lengths"])[ri]
    shuffled = np.random.default_rng(0).permutation(error)
    inferred = {
        name: idm.predict(np.stack([prev, real["observations"][ri], nxt], 1).astype(np.float32))
        for name, nxt in (("real_next", nxt_real), ("generated_next", nxt_gen),
                          ("real_next_plus_generated_error", nxt_real + shuffled))
    }  # fmt: skip

    def action_error(a: np.ndarray) -> dict:
        a, want = a[heldout], recorded[heldout]
        return {"r2": round(float(r2_per_dimension(a, want).mean()), 4),
                "mean_abs_error": round(float(np.abs(a - want).mean()), 4)}  # fmt: skip

    jobs = {c: ctx.dir("train-agent") / job_name("td3bc", 0, c) / "agent" for c in ("real", "dawm")}
    values = {
        c: {"real_next": float(state_value(a, nxt_real).mean()),
            "generated_next": float(state_value(a, nxt_gen).mean())}
        for c, a in ((c, TD3BC.load(path)) for c, path in jobs.items() if path.exists())
    }  # fmt: skip
    print(json.dumps({
        "task": args.task,
        "matched_rows": len(s0),
        "wm_step0_error_over_std": np.round(error.std(0) / real["next_observations"].std(0), 3).tolist(),
        "idm_at_bound": {name: round(float(at_action_bound(a, low, high).mean()), 3)
                         for name, a in (*inferred.items(), ("recorded_actions", recorded))},
        "heldout_rows": int(heldout.sum()),
        "idm_action_vs_recorded_heldout": {name: action_error(a) for name, a in inferred.items()},
        "terminal_rate": {"real": float(real["terminals"][ri].mean()),
                          "generated": float(syn["terminals"][s0].mean())},
        "critic_values": values,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
