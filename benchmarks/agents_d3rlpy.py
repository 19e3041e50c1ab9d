"""d3rlpy side of benchmarks/agents.py; runs inside the d3rlpy virtual environment.

Never imported by the main environment (d3rlpy 2.8.1 pins gymnasium 1.0.0). Reads an
.npz of episode-ordered transitions, trains d3rlpy's TD3PlusBC or IQL with its defaults
plus the settings the reference recipes add (standardized observations; IQL's cosine
actor-lr schedule), and prints one JSON line. ``--policy-out`` saves the greedy policy
as TorchScript so the main environment evaluates it with the same code as ours.
"""

from __future__ import annotations

import argparse
import json
import time

import d3rlpy
import numpy as np
import torch


def make_algo(name: str, steps: int, seed: int, device: str):
    d3rlpy.seed(seed)
    scaler = d3rlpy.preprocessing.StandardObservationScaler()
    if name == "td3bc":
        return d3rlpy.algos.TD3PlusBCConfig(observation_scaler=scaler).create(device=device)
    cosine = d3rlpy.optimizers.CosineAnnealingLRFactory(T_max=steps)
    return d3rlpy.algos.IQLConfig(
        observation_scaler=scaler,
        actor_optim_factory=d3rlpy.optimizers.AdamFactory(lr_scheduler_factory=cosine),
    ).create(device=device)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--algo", choices=["td3bc", "iql"], required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--policy-out", default=None)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    d = np.load(args.data)
    dataset = d3rlpy.dataset.MDPDataset(
        observations=d["observations"],
        actions=d["actions"],
        rewards=d["rewards"],
        terminals=d["terminals"].astype(np.float32),
        timeouts=d["timeouts"].astype(np.float32),
    )
    device = args.device if ":" in args.device else f"{args.device}:0"  # d3rlpy's spelling
    algo = make_algo(args.algo, args.warmup + args.steps, args.seed, device)
    quiet = {"logger_adapter": d3rlpy.logging.NoopAdapterFactory(), "show_progress": False}
    if args.warmup:
        algo.fit(dataset, n_steps=args.warmup, n_steps_per_epoch=args.warmup, **quiet)
    else:
        algo.build_with_dataset(dataset)
    t0, c0 = time.perf_counter(), time.process_time()
    algo.fit(dataset, n_steps=args.steps, n_steps_per_epoch=args.steps, **quiet)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    if args.policy_out:
        algo.save_policy(args.policy_out)
    out = {
        "updates_per_s": args.steps / seconds,
        "cpu_updates_per_s": args.steps / cpu_seconds,  # per second of CPU time: load-proof
        "d3rlpy": d3rlpy.__version__,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
