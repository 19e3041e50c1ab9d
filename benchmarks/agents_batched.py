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

On a GPU (``--device cuda --cuda-graph``) each size also runs with its updates captured as
CUDA graphs (``train(cuda_graph=True)``, one capture per timed chunk, so chunks there should
be long: ``--chunk 20000``); ``gN`` keys are the captured runs.
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


def random_buffer(n: int, seed: int = 0, device: str = "cpu") -> ReplayBuffer:
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
        ),
        device=device,
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


def make_agent(algo: str, members: int, device: str = "cpu") -> OfflineAgent:
    cls = ALGOS[algo]
    config = cls.config_cls()
    if members == 1:
        return cls(OBS, ACT, 1.0, config, device)
    configs = [dataclasses.replace(config, seed=s) for s in range(members)]
    return cls.batched(OBS, ACT, 1.0, configs, device)


def side_by_side(algo: str, sizes: list[int], buffer: ReplayBuffer, args) -> dict:
    """Member-updates/s of each batch size (and, with --cuda-graph, of its captured run),
    timed in alternating chunks."""
    runs = [(n, False) for n in sizes] + [(n, True) for n in sizes if args.cuda_graph]
    agents = {r: make_agent(algo, r[0], args.device) for r in runs}
    steps = {r: max(1, args.chunk // r[0]) for r in runs}  # equal member-updates per chunk
    for r, agent in agents.items():
        agent.train(buffer, 2 * steps[r], progress=False, cuda_graph=r[1])  # warm-up
    wall, cpu = dict.fromkeys(runs, 0.0), dict.fromkeys(runs, 0.0)
    for c in range(args.chunks):
        for r in runs[:: 1 if c % 2 == 0 else -1]:
            agent = agents[r]
            t0, c0 = time.perf_counter(), time.process_time()
            agent.train(buffer, agent.step + steps[r], progress=False, cuda_graph=r[1])
            wall[r] += time.perf_counter() - t0
            cpu[r] += time.process_time() - c0
    out: dict = {}
    for r in runs:
        work = args.chunks * steps[r] * r[0]  # member-updates done
        key = f"{'g' if r[1] else 'n'}{r[0]}"
        out[f"{key}_member_updates_per_s"] = round(work / wall[r], 1)
        out[f"{key}_member_updates_per_s_cpu"] = round(work / cpu[r], 1)
    lo, hi = sizes[0], sizes[-1]
    for clock in ("", "_cpu"):
        rate = {k: out[f"{k}_member_updates_per_s{clock}"] for k in (f"n{lo}", f"n{hi}")}
        out[f"ratio_n{hi}_over_n{lo}{clock}"] = round(rate[f"n{hi}"] / rate[f"n{lo}"], 2)
        if args.cuda_graph:
            g = out[f"g{hi}_member_updates_per_s{clock}"]
            out[f"ratio_g{hi}_over_n{lo}{clock}"] = round(g / rate[f"n{lo}"], 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--members", type=int, default=10, help="N of the batched agent")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--chunks", type=int, default=8, help="timed chunks per batch size")
    p.add_argument("--chunk", type=int, default=100, help="member-updates per chunk")
    p.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS))
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--cuda-graph", action="store_true", help="also time captured updates")
    args = p.parse_args()
    if args.cuda_graph and not args.device.startswith("cuda"):
        p.error(f"--cuda-graph captures CUDA graphs: it needs --device cuda, not {args.device}")
    buffer = random_buffer(100_000, device=args.device)
    sizes = [1, args.members]
    result: dict = {
        "offline_agents": __version__,
        "torch": torch.__version__,
        "cpu": cpu_model(),
        "device": args.device,
        "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "sizes": {"obs": OBS, "act": ACT, "hidden": [256, 256], "batch": 256},
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        # Spinning OpenMP threads collapse 2-thread runs on a busy machine; PASSIVE avoids it.
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }
    on_cpu = args.device == "cpu"  # the sgemm bound is the CPU's: meaningless on a GPU
    for threads in args.threads:
        torch.set_num_threads(threads)
        sgemm = sgemm_gflops(torch.float32) if on_cpu else None
        row: dict = {"sgemm_gflops_256": None if sgemm is None else round(sgemm, 1)}
        for algo in args.algos:
            gflop = update_gflop(algo, OBS, ACT)
            row[algo] = side_by_side(algo, sizes, buffer, args)
            row[algo]["gflop_per_member_update"] = round(gflop, 3)
            if sgemm is not None:
                row[algo]["float32_matmul_bound_member_updates_per_s"] = round(sgemm / gflop, 1)
        if on_cpu:
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
