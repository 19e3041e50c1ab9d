"""The runner: compute each stage of the graph (stage_graph.py) unless its output exists.

Skip, resume and the run record; the graph, hashes and folders are stage_graph.py's.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from dawm_pipeline.atomic import read_json
from dawm_pipeline.config import PipelineConfig
from dawm_pipeline.runs import DONE, StageDir, claim_run_dir, write_run_record
from dawm_pipeline.stage_graph import DEPENDS, STAGES, Context, run_name, stage_inputs


def log(msg: str) -> None:
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
    replaced = claim_run_dir(ctx.run_dir, cfg.to_dict(), ctx.stage_dirs(), cfg.overwrite)
    if replaced is not None:
        log(f"--overwrite: the earlier run {ctx.run_dir.name} moved to {replaced} until this one "
            "finishes")  # fmt: skip
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    log(f"run {ctx.run_dir} (preset {cfg.preset})")
    for name in stages:
        run_stage(ctx, name)
        data_done = ctx.dir("data") / DONE
        dataset = read_json(data_done)["summary"]["dataset"] if data_done.exists() else {}
        write_run_record(ctx.run_dir, cfg.to_dict(), dataset, ctx.stage_dirs())
    if replaced is not None:
        shutil.rmtree(replaced)
        log(f"removed the replaced run {replaced}")
    return ctx.run_dir
