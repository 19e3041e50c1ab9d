"""Stage graph and runner: which stage reads which, what each one's hash covers, skip/resume.

Every stage's hash covers its own settings and the hashes of the stages it reads, so changing
e.g. the agent steps reruns train-agent, evaluate and report but reuses the world model.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dawm_pipeline.config import PipelineConfig
from dawm_pipeline.data.stochastic import perturbation_record
from dawm_pipeline.runs import DONE, StageDir, config_hash, read_json, write_run_record

STAGES = ("data", "train-wm", "train-idm", "generate", "train-agent", "evaluate", "report")
DEPENDS: dict[str, tuple[str, ...]] = {
    "data": (),
    "train-wm": ("data",),
    "train-idm": ("data",),
    "generate": ("data", "train-wm", "train-idm"),
    "train-agent": ("data", "generate"),
    "evaluate": ("data", "train-agent"),
    "report": ("data", "train-wm", "train-idm", "generate", "train-agent", "evaluate"),
}


def log(msg: str) -> None:
    print(f"[dawm] {msg}", file=sys.stderr, flush=True)


def stage_settings(cfg: PipelineConfig, name: str) -> dict[str, Any]:
    """The settings a stage's output depends on (not paths, threads, device or sampler)."""
    agent = dataclasses.asdict(cfg.agent)
    final_eval = agent.pop("final_eval_episodes")
    gen = dataclasses.asdict(cfg.gen)  # cfg.sampler is left out: torch and native agree
    return {
        "data": {
            "env": cfg.env,
            "source": cfg.dataset_source,
            "path": cfg.dataset_path,
            "data_scale": cfg.data_scale,
            "holdout": cfg.idm.holdout_fraction,
            **perturbation_record(cfg.env),
        },
        "train-wm": {
            "wm": dataclasses.asdict(cfg.wm),
            "horizon": cfg.horizon,
            "gamma": cfg.gamma,
            "seed": cfg.model_seed,
            "guidance": cfg.gen.guidance,
            "sampling_steps": cfg.gen.sampling_steps,
        },
        "train-idm": {"idm": dataclasses.asdict(cfg.idm), "seed": cfg.model_seed},
        "generate": {"gen": gen, "ratio": cfg.synthetic_ratio, "seed": cfg.model_seed},
        "train-agent": {"agent": agent, "algos": list(cfg.algos), "seeds": list(cfg.seeds)},
        "evaluate": {"episodes": final_eval},
        "report": {},
    }[name]


def stage_inputs(cfg: PipelineConfig, name: str) -> dict[str, Any]:
    return {
        "stage": name,
        "settings": stage_settings(cfg, name),
        "upstream": {d: config_hash(stage_inputs(cfg, d)) for d in DEPENDS[name]},
    }


def run_name(cfg: PipelineConfig) -> str:
    return cfg.run or f"{cfg.preset}-{config_hash(stage_inputs(cfg, 'report'))[:8]}"


@dataclass
class Context:
    """What a stage gets: the config and where the run's stages live."""

    cfg: PipelineConfig
    run_dir: Path
    started: float = dataclasses.field(default_factory=time.perf_counter)
    ran: list[str] = dataclasses.field(default_factory=list)  # stages computed (not skipped)

    def dir(self, stage: str) -> Path:
        return self.run_dir / stage

    def done(self, stage: str) -> dict[str, Any]:
        return read_json(self.dir(stage) / DONE)


def _stage_module(name: str):
    from dawm_pipeline.stages import MODULES

    return MODULES[name]


def run_stage(ctx: Context, name: str) -> dict[str, Any]:
    """Run one stage unless its output for the same inputs exists; returns its done record."""
    cfg = ctx.cfg
    sd = StageDir(ctx.dir(name), stage_inputs(cfg, name))
    record = sd.done()
    if record is not None:
        log(f"{name}: done for this config ({sd.path}), skipped")
        return record
    for dep in DEPENDS[name]:
        if StageDir(ctx.dir(dep), stage_inputs(cfg, dep)).done() is None:
            raise FileNotFoundError(
                f"stage {name} needs the output of {dep} in {ctx.dir(dep)}: run "
                f"`python -m dawm_pipeline {dep}` with the same options first"
            )
    log(f"{name}: running into {sd.path}")
    sd.prepare()
    start = time.perf_counter()
    summary = _stage_module(name).run(ctx, sd.path)
    record = sd.finish(summary, time.perf_counter() - start)
    ctx.ran.append(name)
    log(f"{name}: finished in {record['seconds']:.1f} s")
    return record


def run(cfg: PipelineConfig, stages: tuple[str, ...] = STAGES) -> Path:
    """Run the given stages in order; returns the run directory."""
    cfg.validate()
    torch.set_num_threads(cfg.threads)
    ctx = Context(cfg, Path(cfg.out) / cfg.env / run_name(cfg))
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    log(f"run {ctx.run_dir} (preset {cfg.preset})")
    for name in stages:
        run_stage(ctx, name)
        data_done = ctx.dir("data") / DONE
        dataset = read_json(data_done)["summary"]["dataset"] if data_done.exists() else {}
        write_run_record(ctx.run_dir, cfg.to_dict(), dataset)
    return ctx.run_dir
