"""offline_agents vs d3rlpy 2.8.1: updates/s and scores, side by side in one run (JSON).

* speed: TD3+BC and IQL at Hopper's sizes (11-dim states, 3-dim actions, 256-256 MLPs,
  batch 256) on the same 100k random transitions; each round times ours and then d3rlpy's
  full training loop (batch sampling included) after a warm-up, alternating, so both see
  the same load on a shared machine; we report per-round ratios and their median, per
  wall-clock second and per second of CPU time (``*_cpu``: less sensitive to other jobs),
  beside the matmul-only bound at the float32 matmul rate measured in the same round.
* score: both libraries train each algorithm for ``--updates`` updates with the same seed
  on the same dataset, then both policies run the same ``offline_agents.evaluate``
  episodes. ``--score-task pendulum`` (default): a Pendulum-v1 dataset made here
  (benchmarks/agents_data.py), normalized to this benchmark's own references (random
  policy 0, scripted swing-up controller 100). ``--score-task hopper-medium-replay`` (any
  of the pipeline's dataset names; needs dawm_pipeline): that dataset as the pipeline loads
  it, evaluated in its Gymnasium env and normalized with D4RL's reference returns.

d3rlpy pins gymnasium 1.0.0, so it runs in its own virtual environment under
``.cache/d3rlpy-venv`` (git-ignored), created on first use: torch==2.13.0 first (the local
CPU wheel), then d3rlpy==2.8.1. ``--d3rlpy-python`` names another interpreter that imports
d3rlpy instead (a GPU machine with its own CUDA torch), and ``--device cuda`` runs both
libraries there.

    .venv/bin/python benchmarks/agents.py --updates 10000 --out docs/agents_benchmark.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import agents_data as data
import gymnasium as gym
import numpy as np
import torch
from offline_agents import (
    IQL,
    TD3BC,
    EvalResult,
    ReplayBuffer,
    Transitions,
    __version__,
    evaluate,
)

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".cache" / "d3rlpy-venv"
WORKER = Path(__file__).with_name("agents_d3rlpy.py")
OURS = {"td3bc": TD3BC, "iql": IQL}


def ensure_d3rlpy_venv() -> Path:
    python = VENV / "bin" / "python"
    stamp = VENV / ".d3rlpy-2.8.1"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "torch==2.13.0"], check=True)  # first: never a CUDA build
        subprocess.run([*pip, "d3rlpy==2.8.1"], check=True)
        stamp.touch()
    return python


def run_d3rlpy(python: Path, npz: Path, algo: str, steps: int, **kw: object) -> dict:
    cmd = [str(python), str(WORKER), "--data", str(npz), "--algo", algo, "--steps", str(steps)]
    for key, val in kw.items():
        cmd += [f"--{key.replace('_', '-')}", str(val)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def transitions(d: dict[str, np.ndarray]) -> Transitions:
    keys = ("observations", "actions", "rewards", "next_observations", "terminals")
    return Transitions(*(d[k] for k in keys))


def our_agent(
    algo: str,
    obs_dim: int,
    act_dim: int,
    max_action: float,
    dtype: str,
    seed: int = 0,
    device: str = "cpu",
):
    cls = OURS[algo]
    config = cls.config_cls(matmul_dtype=dtype, seed=seed)
    return cls(obs_dim, act_dim, max_action, config, device)


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so a timer stops when the updates have really run."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def our_rate(
    algo: str, buffer: ReplayBuffer, dtype: str, steps: int, warmup: int
) -> tuple[float, float]:
    """(updates per wall second, updates per CPU second) of our training loop."""
    device = str(buffer.device)
    agent = our_agent(algo, buffer.obs_dim, buffer.act_dim, 1.0, dtype, device=device)
    agent.train(buffer, warmup, progress=False)
    synchronize(device)
    t0, c0 = time.perf_counter(), time.process_time()
    agent.train(buffer, warmup + steps, log_every=steps, progress=False)
    synchronize(device)
    return steps / (time.perf_counter() - t0), steps / (time.process_time() - c0)


def update_gflop(algo: str, obs: int = 11, act: int = 3, hidden: int = 256, batch: int = 256):
    """Matmul work of one update, counted from the algorithm (2 FLOPs per multiply-add).

    Per net: forward F, weight gradients F, input gradients of every layer but the first
    (the first too where the input needs a gradient: the action in TD3+BC's actor loss).
    """

    def macs(n_in: int, n_out: int) -> tuple[int, int]:
        first, rest = n_in * hidden, hidden * hidden + hidden * n_out
        return first, rest

    def f(n_in: int, n_out: int) -> float:
        return 2 * batch * sum(macs(n_in, n_out)) / 1e9

    def in_grad(n_in: int, n_out: int, with_first: bool = False) -> float:
        first, rest = macs(n_in, n_out)
        return 2 * batch * (rest + (first if with_first else 0)) / 1e9

    q, pi, v = (obs + act, 1), (obs, act), (obs, 1)
    critic_update = 2 * (2 * f(*q) + in_grad(*q))  # twin Q forward + backward
    if algo == "td3bc":
        target = f(*pi) + 2 * f(*q)  # target actor + twin target critics
        actor = f(*pi) + f(*q) + in_grad(*q, with_first=True) + f(*pi) + in_grad(*pi)
        return target + critic_update + actor / 2  # actor every 2nd update
    target = 2 * f(*q) + f(*v)  # twin target critics at (s, a), V(s')
    return target + (2 * f(*v) + in_grad(*v)) + critic_update + (2 * f(*pi) + in_grad(*pi))


def sgemm_gflops(dtype: torch.dtype, device: str = "cpu", reps: int = 50) -> float:
    """The machine's matmul rate at these sizes right now (256³, like the hidden layers)."""
    a, b = (torch.randn(256, 256, dtype=dtype, device=device) for _ in range(2))
    torch.mm(a, b)
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    synchronize(device)
    return 2 * 256**3 * reps / (time.perf_counter() - t0) / 1e9


def speed(python: Path, work: Path, args: argparse.Namespace) -> dict:
    d = data.hopper_shaped(100_000)
    npz = work / "hopper_shaped.npz"
    np.savez(npz, **d)
    buffer = ReplayBuffer(transitions(d), device=args.device)
    out = {}
    for algo in OURS:
        rounds = []
        for _ in range(args.rounds):
            row = {"sgemm_gflops": round(sgemm_gflops(torch.float32, args.device), 1)}
            for dtype in args.dtypes:
                wall, cpu = our_rate(algo, buffer, dtype, args.speed_steps, args.warmup)
                row[f"ours_{dtype}"], row[f"ours_{dtype}_cpu"] = round(wall, 1), round(cpu, 1)
            theirs = run_d3rlpy(
                python,
                npz,
                algo,
                args.speed_steps,
                warmup=args.warmup,
                threads=args.threads,
                device=args.device,
            )
            row["d3rlpy"] = round(theirs["updates_per_s"], 1)
            row["d3rlpy_cpu"] = round(theirs["cpu_updates_per_s"], 1)
            rounds.append(row)
            print(algo, row, file=sys.stderr)
        out[algo] = {"rounds": rounds, "gflop_per_update": round(update_gflop(algo), 3)}
        for key in rounds[0]:
            out[algo][f"{key}_median"] = statistics.median(r[key] for r in rounds)
        for dtype in args.dtypes:
            for clock in ("", "_cpu"):
                ratios = [r[f"ours_{dtype}{clock}"] / r[f"d3rlpy{clock}"] for r in rounds]
                out[algo][f"ratio_{dtype}{clock}_median"] = round(statistics.median(ratios), 2)
        # What the matmuls alone would allow at the measured float32 rate (a roofline).
        rates = [r["sgemm_gflops"] / update_gflop(algo) for r in rounds]
        out[algo]["float32_matmul_bound_ups_median"] = round(statistics.median(rates), 1)
    return out


class _TorchScriptPolicy:
    """d3rlpy's exported greedy policy (observation scaler included) as numpy in/out."""

    def __init__(self, path: Path) -> None:
        self.module = torch.jit.load(str(path))  # written by this run's d3rlpy worker

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.module(torch.as_tensor(obs, dtype=torch.float32)).numpy()


@dataclass
class ScoreTask:
    """A dataset both libraries train on and how its policies are scored."""

    arrays: dict[str, np.ndarray]
    make_env: Callable[[], gym.Env]
    ref_min: float
    ref_max: float
    description: dict


def pendulum_task(args: argparse.Namespace) -> ScoreTask:
    d = data.pendulum_dataset(args.dataset_episodes, seed=0)
    ref_min, ref_max = data.pendulum_references(args.episodes, seed=10_000)
    about = {
        "dataset": f"{data.ENV_ID} scripted swing-up + random actions (this project's own)",
        "dataset_mean_return": float(d["episode_returns"].mean()),
        "references": {"random": ref_min, "scripted_controller": ref_max},
    }
    return ScoreTask(d, data.make_env, ref_min, ref_max, about)


def pipeline_task(name: str) -> ScoreTask:
    """A locomotion dataset as `python -m dawm_pipeline` loads it (bundled, Minari or D4RL)."""
    from dawm_pipeline.data import load_dataset

    ds = load_dataset(name)
    keys = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
    about = {
        "dataset": f"{ds.name}: {ds.info.source_label} ({ds.info.dataset_id})",
        "dataset_mean_return": float(ds.episode_returns().mean()),
        "references": {"d4rl_random": ds.info.ref_min_score, "d4rl_expert": ds.info.ref_max_score},
    }
    return ScoreTask(
        {k: getattr(ds, k) for k in keys},
        lambda: gym.make(ds.env_id),
        ds.info.ref_min_score,
        ds.info.ref_max_score,
        about,
    )


def score(python: Path, work: Path, args: argparse.Namespace) -> dict:
    task = pendulum_task(args) if args.score_task == "pendulum" else pipeline_task(args.score_task)
    d = task.arrays
    npz = work / "score_data.npz"
    np.savez(npz, **d)
    buffer = ReplayBuffer(transitions(d), device=args.device)
    eval_kw = {
        "episodes": args.episodes,
        "seed": 20_000,
        "ref_min": task.ref_min,
        "ref_max": task.ref_max,
    }
    out: dict = {
        **task.description,
        "transitions": len(buffer),
        "updates": args.updates,
        "seed": args.seed,
    }

    def summary(result: EvalResult, rate: float) -> dict[str, float]:
        return {
            "normalized_mean": round(result.normalized_mean or 0.0, 1),
            "normalized_std": round(result.normalized_std or 0.0, 1),
            "return_mean": round(result.mean, 1),
            "updates_per_s": round(rate, 1),
        }

    for algo in OURS:
        out[algo] = {}
        for dtype in args.dtypes:
            agent = our_agent(
                algo, buffer.obs_dim, buffer.act_dim, 1.0, dtype, args.seed, args.device
            )
            t0 = time.perf_counter()
            agent.train(buffer, args.updates, log_every=args.updates, progress=False)
            synchronize(args.device)
            rate = args.updates / (time.perf_counter() - t0)
            out[algo][f"ours_{dtype}"] = summary(
                evaluate(agent.act, task.make_env, **eval_kw), rate
            )
        policy = work / f"{algo}_d3rlpy.pt"
        run = run_d3rlpy(
            python,
            npz,
            algo,
            args.updates,
            threads=args.threads,
            seed=args.seed,
            policy_out=policy,
            device=args.device,
        )
        result = evaluate(_TorchScriptPolicy(policy), task.make_env, **eval_kw)
        out[algo]["d3rlpy"] = summary(result, run["updates_per_s"])
        print(algo, out[algo], file=sys.stderr)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--updates", type=int, default=10_000, help="updates per score run")
    p.add_argument("--speed-steps", type=int, default=500, help="timed updates per round")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--episodes", type=int, default=10, help="evaluation episodes")
    p.add_argument("--dataset-episodes", type=int, default=100)
    p.add_argument(
        "--dtypes",
        nargs="+",
        default=["float32", "bfloat16"],
        choices=["float32", "bfloat16"],
        help="our matmul_dtype settings to run",
    )
    p.add_argument("--seed", type=int, default=0, help="training seed of the score runs")
    p.add_argument(
        "--score-task",
        default="pendulum",
        help="pendulum, or a pipeline dataset name such as hopper-medium-replay",
    )
    p.add_argument("--device", default="cpu", help="torch device of both libraries")
    p.add_argument(
        "--d3rlpy-python",
        type=Path,
        default=None,
        help="an interpreter that imports d3rlpy 2.8.1 (default: make .cache/d3rlpy-venv)",
    )
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-score", action="store_true")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    python = args.d3rlpy_python or ensure_d3rlpy_venv()
    cuda = torch.device(args.device).type == "cuda"
    result: dict = {
        "offline_agents": __version__,
        "d3rlpy": "2.8.1",
        "torch": torch.__version__,
        "threads": args.threads,
        "device": args.device,
        "gpu": torch.cuda.get_device_name() if cuda else None,
        "cpu": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_speed:
            result["speed_hopper_shaped"] = speed(python, Path(tmp), args)
        if not args.skip_score:
            key = "score_" + args.score_task.replace("-", "_")
            result[key] = score(python, Path(tmp), args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
