"""Why a real-only agent misses issue #19's sanity level: the agents against behaviour cloning.

The sanity rule says real-only TD3+BC and IQL reach the medium data's own mean normalized
return. Where they miss it (hopper-medium: TD3+BC 34.7–38.7 and IQL 25.7–26.6 at 100k updates
against the data's 41.6, with flat curves), this trains, on the same real data and a
development seed (never the bench's evaluation seeds 0–4):
- `td3bc`: the bench's TD3+BC (α = 2.5, paper Sec. 5);
- `bc`: the same agent with α = 0, pure behaviour cloning of the data's actions;
- `iql`: the bench's IQL (β = 3 and the task's CORL settings);
- `iql_beta0`: the same with β = 0, so every advantage weight is 1: IQL's actor as plain
  behaviour cloning (its own network, loss and learning-rate schedule).
If BC reaches the data's level and an agent does not, the miss is the agent's (its objective
or its budget); if neither does, the data (or its evaluation) is the thing to look at. If
`iql_beta0` reaches it and `iql` does not, IQL's advantage weights are what pull it down. One
JSON line per evaluation (normalized mean and std over the episodes, mean episode length, and
the agent's losses from the last training log before it).

    .venv/bin/python benchmarks/sanity_probe.py --env hopper-medium --seed 100 \
        --updates 60000 --every 5000 --out docs/results/sanity_probe.jsonl

Past the bench's budget (is the miss the budget's?), resumable:

    .venv/bin/python benchmarks/sanity_probe.py --env hopper-medium --seed 100 \
        --variants td3bc --updates 300000 --every 10000 \
        --out docs/results/sanity_probe_long.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from dawm_pipeline.config import preset
from dawm_pipeline.data.load import load_dataset
from dawm_pipeline.stages.train_agent import (
    agent_class,
    agent_config,
    curve_seed,
    evaluate_agent,
    max_action,
    transitions,
)
from offline_agents import ReplayBuffer

VARIANTS = {  # name: (algorithm, changes to the bench's config of it)
    "td3bc": ("td3bc", {}),
    "bc": ("td3bc", {"alpha": 0.0}),
    "iql": ("iql", {}),
    "iql_beta0": ("iql", {"beta": 0.0}),
}


def variant_config(env: str, variant: str, seed: int, updates: int, data):
    """One variant's agent config: the bench's for this task (its own CORL IQL settings), with
    the variant's changes; IQL, trained here in chunks, anneals its actor's lr over the whole
    probe, as one bench call anneals over its run."""
    algo, changes = VARIANTS[variant]
    bench = dataclasses.replace(preset("bench"), env=env)
    cfg = dataclasses.replace(agent_config(bench, algo, seed, data), **changes)
    if algo == "iql":
        cfg = dataclasses.replace(cfg, cosine_lr_steps=updates)
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="hopper-medium")
    ap.add_argument("--seed", type=int, default=100, help="a development seed (not 0-4)")
    ap.add_argument("--updates", type=int, default=60_000)
    ap.add_argument("--every", type=int, default=10_000, help="updates between evaluations")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    ap.add_argument(
        "--work",
        type=Path,
        default=Path(".cache/sanity_probe"),
        help="agent checkpoints: a rerun of the same command resumes after the last row of --out",
    )
    args = ap.parse_args()
    if args.seed in range(5):
        ap.error(f"--seed {args.seed} is one of the bench's evaluation seeds 0-4: use another")
    torch.set_num_threads(1)
    data = load_dataset(args.env)
    info = data.info
    real = transitions(data)
    data_score = float(np.mean(data.normalized_score(data.episode_returns())))
    for variant in args.variants:
        algo, changes = VARIANTS[variant]
        cfg = variant_config(args.env, variant, args.seed, args.updates, data)
        agent = agent_class(algo)(data.obs_dim, data.act_dim, max_action(data), cfg, "cpu")
        buffer = ReplayBuffer(real, None, None, "cpu")
        work = args.work / f"{args.env}-{variant}-seed{args.seed}-every{args.every}"
        written = rows_written(args.out, args.env, variant, args.seed)
        start = time.time()
        for done in range(args.every, args.updates + 1, args.every):
            if done in written:
                continue
            logged = agent.train(buffer, done, progress=False, checkpoint_dir=work)
            res = evaluate_agent(agent, info, args.episodes, curve_seed(args.seed))
            row = {
                "env": args.env,
                "variant": variant,
                "algo": algo,
                "changes": changes,
                "seed": args.seed,
                "updates": done,
                "normalized_mean": round(res.normalized_mean, 2),
                "normalized_std": round(res.normalized_std, 2),
                "mean_length": round(float(res.lengths.mean()), 1),
                # none: resumed from a checkpoint already at `done`, so no training log
                **{k: round(logged[-1][k], 4) for k in agent.loss_names if logged},
                "data_normalized_mean": round(data_score, 2),
                "seconds": round(time.time() - start, 1),
            }
            print(json.dumps(row), flush=True)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")


def rows_written(out: Path, env: str, variant: str, seed: int) -> set[int]:
    """Update counts already evaluated for this (env, variant, seed) in `out`."""
    if not out.exists():
        return set()
    rows = (json.loads(line) for line in out.read_text().splitlines() if line.strip())
    return {
        r["updates"] for r in rows if (r["env"], r["variant"], r["seed"]) == (env, variant, seed)
    }


if __name__ == "__main__":
    main()
