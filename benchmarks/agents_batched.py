"""Seed-batched offline agents: member-updates/s of N=1 against N=10 in one batch (JSON).

N agents as one batched network (``TD3BC.batched`` / ``IQL.batched``) do N members'
updates per step; what counts is member-updates per second against a single agent's
updates per second. Both run side by side in one process, at sizes of the MuJoCo tasks
with 17-dim states and 6-dim actions (256-256 MLPs, batch 256, 100k random transitions),
in alternating chunks of equal member-updates (100 single updates, 10 batched steps), so
both see the same load on a shared machine; each chunk is timed per wall second and per
second of CPU time (``*_cpu``, which other jobs disturb less). Every setting runs under
1 and 2 torch threads, beside the float32 matmul rate measured at the hidden layers' size
(``agents.sgemm_gflops``) and the matmul-only bound it allows (``agents.update_gflop``).

    .venv/bin/python benchmarks/agents_batched.py --threads 1 2 --out /tmp/agents_batched.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from agents import sgemm_gflops, update_gflop
from offline_agents import IQL, TD3BC, OfflineAgent, ReplayBuffer, Transitions, __version__

OBS, ACT = 17, 6
ALGOS: dict[str, type[OfflineAgent]] = {"td3bc": TD3BC, "iql": IQL}


def random_buffer(n: int, seed: int = 0) -> ReplayBuffer:
    """Random transitions of the benchmark's sizes (only the update's cost matters)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, OBS)).astype(np.float32)
    return ReplayBuffer(
        Transitions(
            obs,
            rng.uniform(-1, 1, (n, ACT)).astype(np.float32),
            rng.normal(size=n).astype(np.float32),
            np.roll(obs, -1, axis=0),
            rng.uniform(size=n) < 0.001,
        )
    )


def cpu_model() -> str:
    """The CPU's model name (the shared machine's host can change between sessions)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    return next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "?"
    )


def make_agent(algo: str, members: int) -> OfflineAgent:
    cls = ALGOS[algo]
    config = cls.config_cls()
    if members == 1:
        return cls(OBS, ACT, 1.0, config)
    configs = [dataclasses.replace(config, seed=s) for s in range(members)]
    return cls.batched(OBS, ACT, 1.0, configs)


def side_by_side(algo: str, sizes: list[int], buffer: ReplayBuffer, args) -> dict:
    """Member-updates/s of each batch size, timed in alternating chunks."""
    agents = {n: make_agent(algo, n) for n in sizes}
    steps = {n: max(1, args.chunk // n) for n in sizes}  # equal member-updates per chunk
    for n, agent in agents.items():
        agent.train(buffer, 2 * steps[n], progress=False)  # warm-up
    wall, cpu = dict.fromkeys(sizes, 0.0), dict.fromkeys(sizes, 0.0)
    for c in range(args.chunks):
        for n in sizes[:: 1 if c % 2 == 0 else -1]:
            agent = agents[n]
            t0, c0 = time.perf_counter(), time.process_time()
            agent.train(buffer, agent.step + steps[n], progress=False)
            wall[n] += time.perf_counter() - t0
            cpu[n] += time.process_time() - c0
    work = {n: args.chunks * steps[n] * n for n in sizes}  # member-updates done
    out: dict = {}
    for n in sizes:
        out[f"n{n}_member_updates_per_s"] = round(work[n] / wall[n], 1)
        out[f"n{n}_member_updates_per_s_cpu"] = round(work[n] / cpu[n], 1)
    lo, hi = sizes[0], sizes[-1]
    for clock in ("", "_cpu"):
        ratio = (
            out[f"n{hi}_member_updates_per_s{clock}"] / out[f"n{lo}_member_updates_per_s{clock}"]
        )
        out[f"ratio_n{hi}_over_n{lo}{clock}"] = round(ratio, 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--members", type=int, default=10, help="N of the batched agent")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--chunks", type=int, default=8, help="timed chunks per batch size")
    p.add_argument("--chunk", type=int, default=100, help="member-updates per chunk")
    p.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS))
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    buffer = random_buffer(100_000)
    sizes = [1, args.members]
    result: dict = {
        "offline_agents": __version__,
        "torch": torch.__version__,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "sizes": {"obs": OBS, "act": ACT, "hidden": [256, 256], "batch": 256},
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        # Spinning OpenMP threads collapse 2-thread runs on a busy machine; PASSIVE avoids it.
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }
    for threads in args.threads:
        torch.set_num_threads(threads)
        sgemm = sgemm_gflops(torch.float32)
        row: dict = {"sgemm_gflops_256": round(sgemm, 1)}
        for algo in args.algos:
            gflop = update_gflop(algo, OBS, ACT)
            row[algo] = side_by_side(algo, sizes, buffer, args)
            row[algo]["gflop_per_member_update"] = round(gflop, 3)
            row[algo]["float32_matmul_bound_member_updates_per_s"] = round(sgemm / gflop, 1)
        row["sgemm_gflops_256_after"] = round(sgemm_gflops(torch.float32), 1)
        result[f"threads_{threads}"] = row
        print(json.dumps({f"threads_{threads}": row}), flush=True)
    result["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
