"""Stage `train-agent`: every algorithm x seed, on real data only and on real + DAWM data.

Each job lives in `<stage>/<algo>-<condition>-seed<k>/` with a resumable checkpoint, a
learning-curve CSV (periodic evaluation in the real environment) and, once finished, the saved
agent and `result.json`; a rerun skips finished jobs and resumes the interrupted one.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from dawm_pipeline.agents import AGENTS
from dawm_pipeline.atomic import write_json
from dawm_pipeline.data.dataset import DatasetInfo, OfflineDataset
from dawm_pipeline.inprogress import read_or_set_aside, set_aside
from dawm_pipeline.simcheck import clipped_rows, simulator_dynamics
from dawm_pipeline.stages import data as data_stage
from dawm_pipeline.stages import generate as generate_stage
from dawm_pipeline.stages.real_reuse import clear_staging, reuse_real_job
from dawm_pipeline.tblog import ScalarLog

CONDITIONS = ("real", "dawm")
CURVE = "curve.csv"


def agent_class(algo: str):
    return AGENTS[algo].load_class()


def jobs(cfg) -> Iterator[tuple[str, int, str]]:
    for algo in cfg.algos:
        for seed in cfg.seeds:
            for condition in CONDITIONS:
                yield algo, seed, condition


def job_name(algo: str, seed: int, condition: str) -> str:
    return f"{algo}-{condition}-seed{seed}"


def iql_settings(cfg, data: OfflineDataset) -> dict[str, Any]:
    """IQL's per-task settings (CORL, via the task registry); rewards scaled by
    1000 / (max − min episode return) of the real data where CORL normalizes them."""
    from offline_agents import locomotion_reward_scale

    s = cfg.task.iql
    scale = locomotion_reward_scale(data.episode_returns()) if s.scale_rewards else 1.0
    return {
        "expectile": s.expectile,
        "beta": s.beta,
        "tau": s.tau,
        "deterministic_actor": s.deterministic_actor,
        "reward_scale": scale,
    }


def agent_config(cfg, algo: str, seed: int, data: OfflineDataset):
    """The library's published defaults, our batch/width, and for IQL the task's CORL
    settings."""
    cls = agent_class(algo)
    extra = iql_settings(cfg, data) if algo == "iql" else {}
    return dataclasses.replace(
        cls.config_cls(),
        seed=seed,
        batch_size=cfg.agent.batch_size,
        hidden=(cfg.agent.hidden, cfg.agent.hidden),
        **extra,
    )


def max_action(data: OfflineDataset) -> np.ndarray:
    info = data.info
    return np.maximum(np.abs(info.action_low), np.abs(info.action_high))


def _env_and_refs(info: DatasetInfo) -> tuple[Any, dict[str, float]]:
    """What every evaluation of this task gets: its env maker and its score references."""
    refs = {"ref_min": info.ref_min_score, "ref_max": info.ref_max_score}
    return (lambda: gym.make(info.env_id)), refs


def evaluate_agent(agent, info: DatasetInfo, episodes: int, seed: int):
    from offline_agents import evaluate

    env_fn, refs = _env_and_refs(info)
    return evaluate(agent.act, env_fn, episodes, seed, **refs)


def evaluate_batch(agent, info: DatasetInfo, episodes: int, seeds: list[int], workers: int = 1):
    """Every member of a batched agent at once, member m as `evaluate_agent` with seeds[m]
    would (one batched forward per environment step instead of one per member), its
    environments stepped in `workers` processes."""
    from offline_agents import evaluate_members

    env_fn, refs = _env_and_refs(info)
    return evaluate_members(agent.act, env_fn, seeds, episodes, workers=workers, **refs)


def curve_seed(seed: int) -> int:
    """The learning curve's evaluation seed of an agent seed (apart from the final one's)."""
    return 10_000 + 1000 * seed


def transitions(arrays: dict[str, np.ndarray] | OfflineDataset):
    """offline_agents' plain-array boundary type, from a dataset or generated arrays."""
    from offline_agents import Transitions

    if isinstance(arrays, OfflineDataset):
        arrays = vars(arrays)
    keys = ("observations", "actions", "rewards", "next_observations", "terminals")
    return Transitions(*(arrays[k] for k in keys))


def run(ctx, out: Path) -> dict[str, Any]:
    from offline_agents import ReplayBuffer

    cfg = ctx.cfg
    data, _ = data_stage.load(ctx)
    real = transitions(data)
    synthetic_arrays = select_steps(generate_stage.load(ctx), cfg.agent.synthetic_steps)
    buffers: dict[str, Any] = {}
    clear_staging(out)

    def buffer_for(condition: str):
        """One buffer per data condition, shared by the jobs that train on it (the synthetic
        part built when a real + DAWM job first needs it)."""
        if condition not in buffers:
            mixed = condition == "dawm" and bool(synthetic_arrays)
            synthetic = transitions(with_dynamics(cfg, synthetic_arrays)) if mixed else None
            share = cfg.synthetic_share() if mixed else None
            buffers[condition] = ReplayBuffer(real, synthetic, share, cfg.device)
        return buffers[condition]

    for algo in cfg.algos:
        todo = [(s, c) for s in cfg.seeds for c in CONDITIONS if not _finished(out, algo, s, c)]
        if not todo:
            continue
        if cfg.agent.batched:  # every job of the algorithm together: one checkpoint for all
            todo = [(s, c) for s in cfg.seeds for c in CONDITIONS]
            _train(ctx, out, algo, todo, data, buffer_for, out / f"{algo}-batch" / "checkpoint")
        else:
            for seed, condition in todo:
                job = out / job_name(algo, seed, condition)
                if condition == "real" and reuse_real_job(ctx, out, job.name):
                    continue
                _train(ctx, out, algo, [(seed, condition)], data, buffer_for, job / "checkpoint")
    summary = {
        "jobs": [job_name(*j) for j in jobs(cfg)],
        "real": len(real),
        "synthetic": len(synthetic_arrays["rewards"]) if synthetic_arrays else 0,
        "batched": cfg.agent.batched,
    }
    if cfg.agent.synthetic_dynamics != "model" and synthetic_arrays:
        # rows the simulator cannot start from: the model still supplied them, or they were
        # left out ("simulator-replayable")
        clipped = int(clipped_rows(cfg.task, synthetic_arrays["observations"]).sum())
        replayable = cfg.agent.synthetic_dynamics == "simulator-replayable"
        summary["synthetic_left_out" if replayable else "synthetic_kept_model_dynamics"] = clipped
    return summary


def select_steps(synthetic: dict[str, np.ndarray], which: str) -> dict[str, np.ndarray]:
    """The generated transitions `agent.synthetic_steps` keeps: all, step 0 only ("first":
    real a_t, no IDM) or steps 1..H-1 only ("inferred": the IDM's actions)."""
    if which not in ("all", "first", "inferred"):
        raise ValueError(f"agent.synthetic_steps: {which!r} is none of all, first, inferred")
    if which == "all" or not synthetic:
        return synthetic
    keep = synthetic["step"] == 0 if which == "first" else synthetic["step"] > 0
    return {k: v[keep] for k, v in synthetic.items()}


DYNAMICS = ("model", "simulator", "simulator-replayable")


def with_dynamics(cfg, synthetic: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The generated transitions as `agent.synthetic_dynamics` gives them to the agents: as
    generated ("model"); with the simulator's reward, next state and terminal flag for each
    (s, a) ("simulator"; rows at the velocity clip, which the simulator cannot start from, keep
    the model's); or only the rows the simulator replays, with its outcomes
    ("simulator-replayable")."""
    which = cfg.agent.synthetic_dynamics
    if which not in DYNAMICS:
        raise ValueError(
            f"--agent.synthetic-dynamics must be one of {', '.join(DYNAMICS)} (got {which!r})"
        )
    if which == "model":
        return synthetic
    replayed, clipped = simulator_dynamics(cfg.task, synthetic)
    n, kept = len(synthetic["rewards"]), int(clipped.sum())
    if which == "simulator":
        print(f"[dawm] train-agent: the simulator's dynamics for {n - kept} of {n} synthetic "
              f"rows ({kept} at the velocity clip keep the model's)", flush=True)  # fmt: skip
        return replayed
    if kept == n:
        raise ValueError(
            f"--agent.synthetic-dynamics simulator-replayable: all {n} synthetic rows start at "
            "the velocity clip, so none is left; use simulator"
        )
    print(f"[dawm] train-agent: the simulator's dynamics for {n - kept} of {n} synthetic rows; "
          f"the {kept} at the velocity clip are left out", flush=True)  # fmt: skip
    return {k: v[~clipped] for k, v in replayed.items()}


def _finished(out: Path, algo: str, seed: int, condition: str) -> bool:
    return (out / job_name(algo, seed, condition) / "result.json").exists()


def _train(ctx, out: Path, algo: str, members, data, buffer_for, checkpoint_dir: Path) -> None:
    """Train the jobs `members` ([(seed, condition)]) as one agent, batched when several
    (offline_agents' `batched`: the same updates per member, one stacked network), then save
    each job's agent and result."""
    cfg = ctx.cfg
    names = [job_name(algo, seed, condition) for seed, condition in members]
    jobs_dirs = [out / name for name in names]
    for job in jobs_dirs:
        job.mkdir(parents=True, exist_ok=True)
    check_resume_state(jobs_dirs, checkpoint_dir)
    configs = [agent_config(cfg, algo, seed, data) for seed, _ in members]
    cls = agent_class(algo)
    shape = (data.obs_dim, data.act_dim, max_action(data))
    if len(members) == 1:
        agent = cls(*shape, configs[0], cfg.device)
    else:
        agent = cls.batched(*shape, configs, cfg.device)

    episodes = cfg.agent.eval_episodes
    if len(members) == 1:
        seed = curve_seed(members[0][0])
        evaluation = {"eval_fn": [lambda a: evaluate_agent(a, data.info, episodes, seed)]}
    else:
        seeds = [curve_seed(seed) for seed, _ in members]
        workers = cfg.eval_workers
        evaluation = {
            "eval_members": lambda a: evaluate_batch(a, data.info, episodes, seeds, workers)
        }

    logs = [ScalarLog(ctx, f"train-agent/{name}") for name in names]

    def on_log(row: dict[str, float]) -> None:
        values = {k: v for k, v in row.items() if k not in ("step", "member")}
        logs[int(row.get("member", 0))].scalars("agent", int(row["step"]), values)

    buffers = [buffer_for(condition) for _, condition in members]
    try:
        agent.train(
            buffers,  # lists of one per member (a single agent takes lists of one)
            cfg.agent.steps,
            **evaluation,
            eval_every=cfg.agent.eval_every,
            log_every=cfg.agent.eval_every,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=cfg.agent.checkpoint_every,
            log_csv=[job / CURVE for job in jobs_dirs],
            progress=True,
            on_log=on_log,
            cuda_graph=cfg.cuda_graph,
        )
    finally:
        for log in logs:
            log.close()
    agent.save([job / "agent" for job in jobs_dirs])
    for (seed, condition), job, buffer in zip(members, jobs_dirs, buffers, strict=True):
        write_json(
            job / "result.json",
            {
                "algo": algo,
                "seed": seed,
                "condition": condition,
                "steps": agent.step,
                "batched": len(members) > 1,
                "buffer_real": buffer.n_real,
                "buffer_synthetic": buffer.n_synthetic,
            },
        )


def _curve_rows(path: Path) -> list[dict[str, str]]:
    """The rows of one job's learning-curve CSV (offline_agents' `log_csv`)."""
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _curve_steps(path: Path) -> list[int]:
    rows = _curve_rows(path)
    if any(row.get("step") is None for row in rows):
        raise ValueError("a row without a step")
    return [int(row["step"]) for row in rows]


def check_resume_state(jobs: list[Path], checkpoint_dir: Path) -> None:
    """Move a torn checkpoint, or the checkpoint of a job whose learning curve is torn or
    missing, aside (with the torn curve); the jobs then restart. Checkpoint and curves go
    together: a curve without its checkpoint would not continue one run. `jobs` share
    `checkpoint_dir` (one job's own, or a batch's), which is read once."""
    from offline_agents.agent import CHECKPOINT

    ckpt = checkpoint_dir / CHECKPOINT
    resumable = (
        read_or_set_aside(ckpt, lambda p: torch.load(p, map_location="cpu", weights_only=True))
        is not None
    )
    torn = [job / CURVE for job in jobs if read_or_set_aside(job / CURVE, _curve_steps) is None]
    if torn and resumable:
        set_aside(ckpt, f"its learning curve {torn[0]} is missing or unreadable")


def read_curve(ctx, algo: str, seed: int, condition: str) -> list[list[float]]:
    """[step, normalized score] of every learning-curve evaluation of one job ([] if none)."""
    path = ctx.dir("train-agent") / job_name(algo, seed, condition) / CURVE
    if not path.exists():
        return []
    return [
        [float(row["step"]), float(row["eval_normalized_mean"])]
        for row in _curve_rows(path)
        if row.get("eval_normalized_mean")
    ]


def training_seconds(agent_dir: Path, algo: str, seed: int, condition: str) -> float | None:
    """The job's update time over every session it ran in (offline_agents keeps `elapsed_s`
    across resumes; evaluation excluded). A batch's jobs each show the whole batch's time; a
    job copied from another stage (real_reuse) shows what it took there."""
    path = Path(agent_dir) / job_name(algo, seed, condition) / CURVE
    rows = _curve_rows(path) if path.exists() else []
    return float(rows[-1]["elapsed_s"]) if rows else None


def load_agent(ctx, algo: str, seed: int, condition: str):
    return agent_class(algo).load(
        ctx.dir("train-agent") / job_name(algo, seed, condition) / "agent", ctx.cfg.device
    )
