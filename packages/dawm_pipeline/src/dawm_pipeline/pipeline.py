"""The runner: compute each stage of the graph (stage_graph.py) unless its output exists.

Skip, resume and the run record; the graph, hashes and folders are stage_graph.py's. Under
torchrun (distributed.py) rank 0 decides, prepares and finishes every stage and computes the
`data` stage alone, while every rank computes the data-parallel `train-wm`.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from dawm_pipeline import distributed, tblog
from dawm_pipeline.atomic import read_json
from dawm_pipeline.config import PipelineConfig
from dawm_pipeline.distributed import from_main
from dawm_pipeline.runs import DONE, StageDir, claim_run_dir, write_run_record
from dawm_pipeline.stage_graph import DEPENDS, STAGES, Context, run_name, stage_inputs

DATA_PARALLEL = ("train-wm",)
"""Stages every torchrun rank computes (diffusion_wm's fit averages their gradients)."""
TORCHRUN_STAGES = ("data", *DATA_PARALLEL)
"""Stages a torchrun launch may name; `data` is computed by rank 0 while the others wait."""


def log(msg: str) -> None:
    if distributed.is_main():  # the other ranks would print the same lines
        print(f"[dawm] {msg}", file=sys.stderr, flush=True)


def show_package_log() -> None:
    """Print the package's logging (which dataset source was read and why, bundled builds)
    on stderr beside `log`'s lines; command-line entry points call this, libraries do not."""
    logger = logging.getLogger("dawm_pipeline")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[dawm] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _stage_module(name: str):
    from dawm_pipeline.stages import module

    return module(name)


def _finished_or_ready(ctx: Context, sd: StageDir, name: str) -> dict[str, Any] | None:
    """The stage's done record when it is finished; else None once its inputs exist."""
    record = sd.done()
    if record is not None:
        why = getattr(_stage_module(name), "outdated", lambda ctx, record: None)(ctx, record)
        if why is not None:
            raise ValueError(f"stage {name} in {sd.path} {why}")
        log(f"{name}: done for this config ({sd.path}), skipped")
        return record
    for dep in DEPENDS[name]:
        if StageDir(ctx.dir(dep), stage_inputs(ctx.cfg, dep)).done() is None:
            raise FileNotFoundError(
                f"stage {name} needs the output of {dep} in {ctx.dir(dep)}: run "
                f"`python -m dawm_pipeline {dep}` with the same options first"
            )
    log(f"{name}: running into {sd.path}")
    sd.prepare()
    return None


def _compute(ctx: Context, sd: StageDir, name: str) -> dict[str, Any]:
    start = time.perf_counter()
    summary = _stage_module(name).run(ctx, sd.path)
    return sd.finish(summary, time.perf_counter() - start)


def run_stage(ctx: Context, name: str) -> dict[str, Any]:
    """Run one stage unless its output for the same inputs exists; returns its done record."""
    sd = StageDir(ctx.dir(name), stage_inputs(ctx.cfg, name))
    record = from_main(lambda: _finished_or_ready(ctx, sd, name))
    if record is not None:
        return record
    if name in DATA_PARALLEL:  # every rank trains; rank 0 alone writes the done record
        start = time.perf_counter()
        summary = _stage_module(name).run(ctx, sd.path)
        record = from_main(lambda: sd.finish(summary, time.perf_counter() - start))
    else:
        record = from_main(lambda: _compute(ctx, sd, name))
    ctx.ran.append(name)
    log(f"{name}: finished in {record['seconds']:.1f} s")
    return record


def check_torchrun(cfg: PipelineConfig, stages: tuple[str, ...]) -> None:
    """Under torchrun only the data-parallel stages (and `data` before them) may run: a
    one-process stage would keep the other ranks waiting for its whole length."""
    world = distributed.world()
    if world <= 1:
        return
    others = [name for name in stages if name not in TORCHRUN_STAGES]
    if others:
        raise ValueError(
            f"under torchrun only {' and '.join(TORCHRUN_STAGES)} run ({', '.join(DATA_PARALLEL)} "
            f"data-parallel): name them (`torchrun ... -m dawm_pipeline "
            f"{' '.join(TORCHRUN_STAGES)} ...`), then run {', '.join(others)} in one process "
            "with the same options"
        )
    if cfg.wm.batch_size % world:
        raise ValueError(
            f"--wm.batch-size {cfg.wm.batch_size} must be divisible by the {world} torchrun "
            "processes (each trains on an equal share of the batch)"
        )
    if cfg.cuda_graph:
        raise ValueError(
            "--cuda-graph captures one process's step: drop it under torchrun (data-parallel "
            "ranks exchange gradients between steps)"
        )


def run(cfg: PipelineConfig, stages: tuple[str, ...] = STAGES) -> Path:
    """Run the given stages in order; returns the run directory."""
    cfg.validate()
    check_torchrun(cfg, stages)
    started = distributed.init(cfg.device)
    try:
        run_dir = _run(cfg, stages)
    except Exception as e:
        # Not after an error of one rank alone: the others, inside a collective, never join.
        if started and distributed.raised_together(e):
            distributed.shutdown()
        raise
    if started:
        distributed.shutdown()
    return run_dir


def _run(cfg: PipelineConfig, stages: tuple[str, ...]) -> Path:
    torch.set_num_threads(cfg.threads)
    ctx = Context(cfg, Path(cfg.out) / cfg.env / run_name(cfg))

    def claim() -> Path | None:
        replaced = claim_run_dir(ctx.run_dir, cfg.to_dict(), ctx.stage_dirs(), cfg.overwrite)
        ctx.run_dir.mkdir(parents=True, exist_ok=True)
        return replaced

    replaced = from_main(claim)
    if replaced is not None:
        log(f"--overwrite: the earlier run {ctx.run_dir.name} moved to {replaced} until this one "
            "finishes")  # fmt: skip
    workers = f", {distributed.world()} torchrun processes" if distributed.world() > 1 else ""
    log(f"run {ctx.run_dir} (preset {cfg.preset}{workers})")
    if cfg.log == "tensorboard":
        log(f"training curves: {tblog.open_hint(ctx.run_dir)}")
    for name in stages:
        run_stage(ctx, name)
        from_main(lambda: _write_record(ctx))
    if replaced is not None:
        from_main(lambda: shutil.rmtree(replaced))
        log(f"removed the replaced run {replaced}")
    return ctx.run_dir


def _write_record(ctx: Context) -> None:
    data_done = ctx.dir("data") / DONE
    dataset = read_json(data_done)["summary"]["dataset"] if data_done.exists() else {}
    write_run_record(ctx.run_dir, ctx.cfg.to_dict(), dataset, ctx.stage_dirs())
