"""What DAWM costs at the paper's settings: every stage's rate here, projected to a task and
to the 9-task table (issue #16: the paper scale should take about 1 h per task on an H100).

Every size and count comes from the pipeline's `paper` preset (dawm_pipeline.config), so the
projection follows the preset. Each stage runs the real library code for about `--seconds`
(plus one warm-up unit; a stage whose single unit takes longer runs longer) on random data of
the preset task's shapes (hopper: 11-dim states, 3-dim actions): world-model training
(diffusion_wm fit), IDM training (inverse_dynamics fit), generation (the pipeline's native
dawm_kernels engine when importable, else its PyTorch path), agent updates (offline_agents,
single and seed-batched, the faster projected) and the learning-curve evaluations (Gymnasium
episodes). projected_seconds = count_at_paper_scale / measured_rate, per stage; the task is
their sum, the table 9 tasks alike. Beside them: the eager H100 figures measured earlier
(docs/gpu_h100/*.json, discussed in docs/performance.md and docs/agents.md). Prints JSON.

    .venv/bin/python benchmarks/paper_scale.py --threads 1 --seconds 5
    python benchmarks/paper_scale.py --device cuda --threads 16 --out /tmp/paper_scale.json
    .venv/bin/python benchmarks/paper_scale.py --smoke --seconds 0.5   # tiny models (tests)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NoReturn

import gymnasium as gym
import numpy as np
import torch
from agents_batched import cpu_model
from dawm_pipeline import generate as gen
from dawm_pipeline import native
from dawm_pipeline.atomic import write_text
from dawm_pipeline.config import PipelineConfig, preset, torch_device_ok
from dawm_pipeline.experiments.plan import PAPER_TASKS
from dawm_pipeline.sequences import sequence_length
from dawm_pipeline.stages import train_agent, train_wm
from dawm_pipeline.stages.generate import CHUNK
from diffusion_wm import DiffusionWorldModel
from inverse_dynamics import FitConfig, IDMConfig, InverseDynamicsModel, fit
from offline_agents import ReplayBuffer, Transitions, evaluate

ROOT = Path(__file__).resolve().parents[1]
TARGET_HOURS_PER_TASK = 1.0
TARGET_SOURCE = "issue #16: the paper scale at about 1 h per task on one H100"
REAL_TRANSITIONS = 1_000_000
"""D4RL-sized dataset: hopper-medium has 1M transitions (medium-replay 0.2-0.4M,
medium-expert 2M)."""
# Rows of random training data: how many does not change what a step costs.
WM_ROWS, BUFFER_ROWS = 4096, 100_000
IDM_WINDOWS = {False: 65_536, True: 1024}  # windows per IDM epoch, by --smoke

H100_FIGURES: dict[str, tuple[str, tuple[str | int, ...], str]] = {
    "world_model": (
        "docs/gpu_h100/wm_speed_paper_dim128.json",
        ("results", 0, "train_steps_per_s_batch64"),
        "steps/s",
    ),
    "generation": (
        "docs/gpu_h100/wm_speed_paper_dim128.json",
        ("results", 0, "sample_transitions_per_s_cfg"),
        "transitions/s (world model sampling with CFG, no IDM)",
    ),
    "agents_td3bc": (
        "docs/gpu_h100/agents_speed.json",
        ("speed_hopper_shaped", "td3bc", "ours_float32_median"),
        "updates/s (one agent)",
    ),
    "agents_iql": (
        "docs/gpu_h100/agents_speed.json",
        ("speed_hopper_shaped", "iql", "ours_float32_median"),
        "updates/s (one agent)",
    ),
}
"""Eager PyTorch on one H100 (2026-11-25): stage -> (file, key path, unit)."""

Run = Callable[[int], tuple[float, float]]
"""run(n): does n units of a stage's work; returns (work done in the stage's unit, seconds)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Every refusal is one line (argparse's own errors would add the usage)."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = Parser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (the preset's)")
    p.add_argument("--seconds", type=float, default=5.0, help="time budget per stage")
    p.add_argument(
        "--real-transitions",
        type=int,
        default=REAL_TRANSITIONS,
        help="real dataset size of a task (D4RL hopper-medium: 1M)",
    )
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--smoke", action="store_true", help="tiny models, for tests")
    p.add_argument(
        "--fast",
        action="store_true",
        help="the GPU speed settings: world model in bf16 autocast, world-model step and "
        "agent updates captured as CUDA graphs (needs --device cuda)",
    )
    args = p.parse_args(argv)
    if not torch_device_ok(args.device):
        p.error(f"--device {args.device!r} is not a torch device: use cpu, cuda or cuda:N")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(
            f"--device {args.device}: torch {torch.__version__} sees no CUDA device here; "
            "run it on a GPU machine or pass --device cpu"
        )
    if args.fast and not args.device.startswith("cuda"):
        p.error("--fast captures CUDA graphs: it needs --device cuda")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads {args.threads}: must be at least 1")
    if not (math.isfinite(args.seconds) and args.seconds > 0):
        p.error(f"--seconds {args.seconds}: must be a positive number of seconds")
    if args.real_transitions < 1:
        p.error(f"--real-transitions {args.real_transitions}: must be at least 1")
    if args.out is not None and args.out.is_dir():
        p.error(f"--out {args.out} is a folder: give a file name")
    return args


def paper_config(smoke: bool, device: str, fast: bool = False) -> PipelineConfig:
    """The paper preset on `device`; with `smoke`, tiny networks (the counts stay the paper's);
    with `fast`, bf16 world-model training and CUDA graphs."""
    cfg = dataclasses.replace(preset("paper"), device=device)
    if fast:
        cfg = dataclasses.replace(
            cfg, cuda_graph=True, wm=dataclasses.replace(cfg.wm, precision="bfloat16")
        )
    if not smoke:
        return cfg
    return dataclasses.replace(
        cfg,
        wm=dataclasses.replace(cfg.wm, dim=8, dim_mults=(1, 2), batch_size=8),
        idm=dataclasses.replace(cfg.idm, hidden_sizes=(16,), batch_size=64),
        agent=dataclasses.replace(cfg.agent, hidden=16, batch_size=16),
    )


def measure(run: Run, budget: float) -> tuple[float, float]:
    """(rate, work timed) of `run`'s largest call after a one-unit warm-up: n grows 4x until a
    call takes a quarter of `budget`, then one call fills what is left of it."""
    run(1)
    n, spent = 1, 0.0
    while True:
        work, seconds = run(n)
        spent += seconds
        if seconds >= budget / 4 or spent >= budget:
            break
        n *= 4
    more = round(n / seconds * (budget - spent))
    if more > n:
        work, seconds = run(more)
    return work / seconds, work


def synchronize(device: str) -> None:
    """Timers stop when queued GPU work has run."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], float], device: str) -> tuple[float, float]:
    """(fn()'s work, its wall seconds, queued GPU work included)."""
    tic = time.perf_counter()
    work = fn()
    synchronize(device)
    return work, time.perf_counter() - tic


def stage(rate: float, work: float, unit: str, count: float, backend: str, **extra: Any) -> dict:
    """One stage's row; the projection uses the rate as printed (4 significant digits)."""
    rate = float(f"{rate:.4g}")
    seconds = count / rate
    return {
        "measured_rate": rate,
        "unit": unit,
        "work_timed": round(work, 1),
        "count_at_paper_scale": count,
        "projected_seconds": round(seconds, 1),
        "projected_hours": round(seconds / 3600, 3),
        "backend": backend,
        **extra,
    }


def world_model_stage(cfg: PipelineConfig, budget: float) -> tuple[dict, DiffusionWorldModel]:
    """Steps/s of diffusion_wm's fit at the preset's network and batch."""
    robot = cfg.task.robot
    wm_cfg = train_wm.model_config(cfg, robot.obs_dim, robot.act_dim)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(WM_ROWS, wm_cfg.length, wm_cfg.x_dim)).astype(np.float32)
    context = rng.normal(size=(WM_ROWS, wm_cfg.context_dim)).astype(np.float32)
    guide = rng.normal(size=(WM_ROWS, 1)).astype(np.float32)
    torch.manual_seed(cfg.model_seed)
    model = DiffusionWorldModel(wm_cfg, cfg.device)
    kernel = native.use_train_kernel(model, cfg.train_kernel, cfg.device)

    def run(n: int) -> tuple[float, float]:
        history = model.fit(
            x,
            context,
            guide,
            steps=n,
            batch_size=cfg.wm.batch_size,
            lr=cfg.wm.lr,
            val_fraction=0.0,
            log_every=n,
            progress=False,
            precision=cfg.wm.precision,
            cuda_graph=cfg.cuda_graph,
        )
        return n, history.seconds  # the training loop alone (fit's own timer, synchronized)

    rate, work = measure(run, budget)
    params = sum(p.numel() for p in model.net.parameters())
    return stage(
        rate,
        work,
        "steps/s",
        cfg.wm.steps,
        f"diffusion_wm fit, {cfg.wm.precision}, "
        + ("one CUDA graph per step" if cfg.cuda_graph else "eager PyTorch")
        + (", native Mish(GroupNorm)" if kernel == "native" else ""),
        batch=cfg.wm.batch_size,
        dim=cfg.wm.dim,
        dim_mults=list(cfg.wm.dim_mults),
        params=params,
    ), model


def idm_stage(
    cfg: PipelineConfig, real: int, smoke: bool, budget: float
) -> tuple[dict, InverseDynamicsModel]:
    """Training windows/s of inverse_dynamics' fit (its per-epoch validation included)."""
    robot = cfg.task.robot
    idm_cfg = IDMConfig(
        robot.obs_dim, robot.act_dim, history=cfg.idm.history, hidden_sizes=cfg.idm.hidden_sizes
    )
    bound = np.full(robot.act_dim, robot.action_bound, np.float32)
    torch.manual_seed(cfg.model_seed)
    model = InverseDynamicsModel(idm_cfg, action_low=-bound, action_high=bound)
    rng = np.random.default_rng(1)
    n = IDM_WINDOWS[smoke]
    windows = rng.normal(size=(n, idm_cfg.window_len, robot.obs_dim)).astype(np.float32)
    actions = rng.uniform(-1, 1, (n, robot.act_dim)).astype(np.float32)
    val_fraction = FitConfig.val_fraction  # the pipeline keeps fit's default
    trained = n - round(n * val_fraction)

    def run(epochs: int) -> tuple[float, float]:
        config = FitConfig(
            batch_size=cfg.idm.batch_size,
            lr=cfg.idm.lr,
            max_epochs=epochs,
            patience=epochs,  # no early stop before `epochs`
            seed=cfg.model_seed,
            device=cfg.device,
            progress=False,
        )

        def train() -> float:
            fit(model, windows, actions, config)
            return epochs * trained

        return timed(train, cfg.device)

    rate, work = measure(run, budget)
    train_windows = real * cfg.data_scale * (1 - cfg.idm.holdout_fraction) * (1 - val_fraction)
    return stage(
        rate,
        work,
        "training windows/s",
        round(train_windows) * cfg.idm.max_epochs,
        "inverse_dynamics fit, eager PyTorch",
        note=f"count: every epoch of the {cfg.idm.max_epochs}-epoch cap (early stopping ends sooner)",
    ), model


def generation_stage(
    cfg: PipelineConfig,
    real: int,
    wm: DiffusionWorldModel,
    idm: InverseDynamicsModel,
    budget: float,
) -> dict:
    """Transitions/s of the generate stage's chunk work: noise, rollouts, transitions."""
    robot = cfg.task.robot
    layout = cfg.token_layout(robot.obs_dim, robot.act_dim)
    backend = native.resolve("auto", "--sampler")
    if backend == "native" and cfg.device.startswith("cuda"):
        import dawm_kernels

        if not dawm_kernels.cuda_status()[0]:
            backend = "torch"
    engine = None
    if backend == "native":
        engine = gen.native_engine(wm, idm, cfg.sampling(), layout, cfg.device)
    rng = np.random.default_rng(2)

    def run(n: int) -> tuple[float, float]:
        done = 0.0
        tic = time.perf_counter()
        for chunk, start in enumerate(range(0, n, CHUNK)):
            b = min(CHUNK, n - start)
            states = rng.normal(size=(b, robot.obs_dim)).astype(np.float32)
            actions = rng.uniform(-1, 1, (b, robot.act_dim)).astype(np.float32)
            guide = rng.normal(size=(b, 1)).astype(np.float32)
            noise = gen.initial_noise(
                cfg.model_seed, chunk, b, sequence_length(cfg.horizon), layout.x_dim
            )
            if engine is not None:
                rollouts = gen.native_generate(engine, states, actions, guide, noise)
            else:
                rollouts = gen.torch_generate(
                    wm, idm, states, actions, guide, noise, cfg.sampling(), layout
                )
            ones = np.ones(robot.act_dim, np.float32)
            gen.to_transitions(robot, states, rollouts, guide[:, 0], -ones, ones)
            done += b * cfg.horizon
        return done, time.perf_counter() - tic

    rate, work = measure(run, budget)
    target = round(cfg.synthetic_ratio * real * cfg.data_scale)
    if cfg.gen.max_transitions is not None:
        target = min(target, cfg.gen.max_transitions)
    rollouts = math.ceil(target / cfg.horizon)
    where = f"dawm_kernels {'CUDA' if cfg.device.startswith('cuda') else 'CPU'} engine"
    return stage(
        rate,
        work,
        "transitions/s",
        rollouts * cfg.horizon,
        where if engine is not None else "PyTorch (diffusion_wm DDIM + IDM)",
        ddim_steps=cfg.gen.sampling_steps,
        guidance=cfg.gen.guidance,
        synthetic_ratio=cfg.synthetic_ratio,
    )


def random_transitions(obs_dim: int, act_dim: int, seed: int) -> Transitions:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(BUFFER_ROWS, obs_dim)).astype(np.float32)
    return Transitions(
        obs,
        rng.uniform(-1, 1, (BUFFER_ROWS, act_dim)).astype(np.float32),
        rng.normal(size=BUFFER_ROWS).astype(np.float32),
        np.roll(obs, -1, axis=0),
        rng.uniform(size=BUFFER_ROWS) < 0.001,
    )


def agent_stage(cfg: PipelineConfig, algo: str, budget: float) -> tuple[dict, Any]:
    """Member-updates/s of one agent and of all the algorithm's jobs as one batched agent."""
    robot = cfg.task.robot
    # agent_config reads only the episode returns of its dataset (IQL's reward scale).
    stand_in = SimpleNamespace(episode_returns=lambda: np.array([0.0, 1000.0]))
    members = [(seed, cond) for a, seed, cond in train_agent.jobs(cfg) if a == algo]
    configs = [train_agent.agent_config(cfg, algo, seed, stand_in) for seed, _ in members]
    real = random_transitions(robot.obs_dim, robot.act_dim, 3)
    buffers = {
        "real": ReplayBuffer(real, None, None, cfg.device),
        "dawm": ReplayBuffer(
            real,
            random_transitions(robot.obs_dim, robot.act_dim, 4),
            cfg.synthetic_share(),
            cfg.device,
        ),
    }
    cls = train_agent.agent_class(algo)
    shape = (robot.obs_dim, robot.act_dim, robot.action_bound)
    single = cls(*shape, configs[0], cfg.device)
    batched = cls.batched(*shape, configs, cfg.device)

    def runner(agent: Any, chosen: list[ReplayBuffer]) -> Run:
        def run(n: int) -> tuple[float, float]:
            def train() -> float:
                agent.train(
                    chosen,
                    agent.step + n,
                    log_every=cfg.agent.eval_every,
                    progress=False,
                    cuda_graph=cfg.cuda_graph,
                )
                return n * len(chosen)

            return timed(train, cfg.device)

        return run

    rate_1, work_1 = measure(runner(single, [buffers["dawm"]]), budget / 2)
    rate_n, work_n = measure(runner(batched, [buffers[c] for _, c in members]), budget / 2)
    n = len(members)
    faster = "batched" if rate_n > rate_1 else "single"
    row = stage(
        max(rate_1, rate_n),
        work_n if faster == "batched" else work_1,
        "member-updates/s",
        n * cfg.agent.steps,
        (
            f"offline_agents, {cls.__name__}.batched N={n}"
            if faster == "batched"
            else f"offline_agents, one {cls.__name__} at a time"
        )
        + (", CUDA graphs" if cfg.cuda_graph else ""),
        members=n,
        single_updates_per_s=float(f"{rate_1:.4g}"),
        batched_member_updates_per_s=float(f"{rate_n:.4g}"),
        preset_batched=cfg.agent.batched,
    )
    return row, single


def evaluation_stage(cfg: PipelineConfig, agent: Any, budget: float) -> dict:
    """Env steps/s of offline_agents' evaluate (10 envs side by side, as the curve's)."""
    robot = cfg.task.robot

    def run(episodes: int) -> tuple[float, float]:
        return timed(
            lambda: float(
                evaluate(agent.act, lambda: gym.make(robot.gym_id), episodes, 0).lengths.sum()
            ),
            cfg.device,
        )

    rate, work = measure(run, budget)
    jobs = len(list(train_agent.jobs(cfg)))
    per_job = cfg.agent.steps // cfg.agent.eval_every * cfg.agent.eval_episodes
    episodes = jobs * (per_job + cfg.agent.final_eval_episodes)
    max_steps = gym.spec(robot.gym_id).max_episode_steps
    return stage(
        rate,
        work,
        "env steps/s",
        episodes * max_steps,
        f"gymnasium {robot.gym_id} + the agent's act",
        episodes=episodes,
        note=(
            f"count: every episode at its {max_steps}-step limit (an upper bound); timed with "
            "an untrained agent, whose short episodes weigh env creation and resets more"
        ),
    )


def dig(obj: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def key_path(path: tuple[str | int, ...]) -> str:
    """("results", 0, "rate") -> results[0].rate"""
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def h100_figures() -> dict[str, dict]:
    """The earlier eager H100 figures, read before any work (a missing file fails first)."""
    return {
        name: {
            "rate": float(dig(json.loads((ROOT / file).read_text()), path)),
            "unit": unit,
            "source": f"{file}: {key_path(path)}",
        }
        for name, (file, path, unit) in H100_FIGURES.items()
    }


def h100_eager(figures: dict[str, dict], stages: dict[str, dict]) -> dict:
    """The earlier H100 figures, each projected to the same counts as ours."""
    rows = {
        name: {
            **row,
            "projected_hours": round(stages[name]["count_at_paper_scale"] / row["rate"] / 3600, 3),
        }
        for name, row in figures.items()
    }
    return {
        "what": "eager PyTorch on one H100, 2026-11-25 (docs/performance.md 'On an H100', "
        "docs/agents.md); agents one at a time",
        "stages": rows,
        "per_task_projected_hours_of_these_stages": round(
            sum(r["projected_hours"] for r in rows.values()), 2
        ),
        "not_measured_on_h100": sorted(set(stages) - set(rows)),
    }


def device_info(device: str, threads: int) -> dict:
    return {
        "kind": device,
        "name": torch.cuda.get_device_name(device) if device.startswith("cuda") else cpu_model(),
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "threads": threads,
        "cores": os.cpu_count(),
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    figures = h100_figures()
    cfg = paper_config(args.smoke, args.device, args.fast)
    threads = cfg.threads if args.threads is None else args.threads
    torch.set_num_threads(threads)
    info = device_info(args.device, threads)
    real, budget = args.real_transitions, args.seconds
    stages: dict[str, dict] = {}
    stages["world_model"], wm = world_model_stage(cfg, budget)
    stages["idm"], idm = idm_stage(cfg, real, args.smoke, budget)
    stages["generation"] = generation_stage(cfg, real, wm, idm, budget)
    agent = None
    for algo in cfg.algos:
        stages[f"agents_{algo}"], agent = agent_stage(cfg, algo, budget)
    stages["evaluation"] = evaluation_stage(cfg, agent, budget)
    per_task = sum(s["projected_seconds"] for s in stages.values()) / 3600
    info["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    result = {
        "benchmark": "benchmarks/paper_scale.py",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "device": info,
        "preset": "paper" + (" (--smoke: tiny networks, the paper's counts)" if args.smoke else ""),
        "speed_settings": {"wm_precision": cfg.wm.precision, "cuda_graph": cfg.cuda_graph},
        "task_shape": {
            "env": cfg.env,
            "obs_dim": cfg.task.robot.obs_dim,
            "act_dim": cfg.task.robot.act_dim,
            "horizon": cfg.horizon,
            "real_transitions": real,
            "algos": list(cfg.algos),
            "seeds": list(cfg.seeds),
            "conditions": list(train_agent.CONDITIONS),
            "agent_updates": cfg.agent.steps,
        },
        "seconds_per_stage": budget,
        "stages": stages,
        "per_task_projected_hours": round(per_task, 3),
        "tasks_in_table": len(PAPER_TASKS),
        "nine_task_projected_hours": round(per_task * len(PAPER_TASKS), 2),
        "projection_note": "stages one after another; every task of the table projected at "
        "this task's shapes and dataset size",
        "target_hours_per_task": TARGET_HOURS_PER_TASK,
        "target_source": TARGET_SOURCE,
        "h100_eager_earlier": h100_eager(figures, stages),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
