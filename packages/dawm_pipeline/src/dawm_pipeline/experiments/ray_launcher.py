"""`--launcher ray`: an experiment's cells as Ray tasks, on one machine or a cluster.

Design: one Ray task per distinct model-stage folder, then one per cell. Cells share the
world model, IDM and generated data by the hash of their inputs (a folder
`<out>/<task>/stages/<stage>-<hash>/`), and two processes computing the same folder at once
would overwrite each other's checkpoints. So the driver walks every pending cell's stages
(`data`, `train-wm`, `train-idm`, `generate`), submits one task per folder not seen yet with
the tasks of the folders it reads as arguments (Ray starts it once they have finished), and
then the cell's own task (its agents and evaluation: `run_cell`, which finds its model
stages done and skips them), which waits on its `generate` task. Every shared stage is thus
computed exactly once, while everything independent runs side by side: `train-wm` beside
`train-idm`, one task's models beside another's, every seed's agents beside each other.
(Running a whole group of cells in order inside one task would also be correct, but would
serialise the agents of one world model, which are most of a sweep's cells.)

Failures: a task whose worker dies (killed, out of memory, a lost node) is rerun by Ray
(`RETRIES`), and the rerun resumes from the stage's checkpoints; an exception in the code is
not retried. Workers return rows and only this driver appends them to the results file,
skipping a key already there, so a rerun after a crash of the driver runs only the cells
without a row, and two drivers cannot write a row twice. A task whose dataset is not built
returns why, and its cells count as pending, as with the local launcher.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from dawm_pipeline.config import PipelineConfig
from dawm_pipeline.experiments.plan import Cell
from dawm_pipeline.experiments.ray_cluster import check_resources, import_ray
from dawm_pipeline.experiments.results import ResultStore
from dawm_pipeline.experiments.runner import (
    MODEL_STAGES,
    DatasetMissing,
    Sweep,
    cell_dir,
    is_finished,
    log,
    planned,
    run_cell,
)
from dawm_pipeline.pipeline import run_stage, show_package_log
from dawm_pipeline.stage_graph import DEPENDS, Context

RETRIES = 3
"""Reruns of a task whose worker process died (Ray's max_retries)."""

Row = dict[str, Any]
Outcome = Row | str  # a results row, or why the cell is pending (its dataset is not built)


def _task_options(cfg: PipelineConfig, gpu: bool) -> dict[str, Any]:
    """What Ray reserves for one task: the cell's torch threads, and a GPU on CUDA."""
    options: dict[str, Any] = {"num_cpus": cfg.threads, "max_retries": RETRIES}
    if gpu and cfg.device.startswith("cuda"):
        options["num_gpus"] = 1
    return options


def _enter(cwd: str, cfg: PipelineConfig) -> None:
    """A worker starts where the driver runs, so relative --out and dataset paths (part of
    the stage hashes) mean the same files; a cluster needs them on a shared filesystem."""
    os.chdir(cwd)
    show_package_log()
    torch.set_num_threads(cfg.threads)


def stage_task(cwd: str, sweep: Sweep, cell: Cell, name: str, *upstream: str | None) -> str | None:
    """Compute (or find done) one model stage of `cell`; a message when its data are missing."""
    missing = next((u for u in upstream if u is not None), None)
    if missing is not None:
        return missing
    cfg = sweep.config(cell)
    _enter(cwd, cfg)
    try:
        run_stage(Context(cfg, cell_dir(sweep, [cell], cfg)), name)
    except FileNotFoundError as e:
        if name != "data":
            raise
        return str(e)
    return None


def cell_task(
    cwd: str, run: Callable[[Sweep, Cell], Row], sweep: Sweep, cell: Cell, model: str | None
) -> Outcome:
    """One cell once its model stages are done: its results row, or why it is pending."""
    if model is not None:
        return model
    _enter(cwd, sweep.config(cell))
    try:
        return run(sweep, cell)
    except DatasetMissing as e:
        return str(e)


def _submit(
    ray, sweep: Sweep, todo: list[tuple[Cell, PipelineConfig]], run: Callable[[Sweep, Cell], Row]
) -> dict[Any, Cell]:
    """Submit the stage tasks (one per folder) and the cell tasks; returns cell task -> cell."""
    cwd = os.getcwd()
    stage = ray.remote(stage_task)
    cell_fn = ray.remote(cell_task)
    folders: dict[Path, Any] = {}
    cells: dict[Any, Cell] = {}
    for cell, cfg in todo:
        ctx = Context(cfg, cell_dir(sweep, [cell], cfg))
        for name in MODEL_STAGES:
            if ctx.dir(name) in folders:
                continue
            reads = [folders[ctx.dir(dep)] for dep in DEPENDS[name]]
            options = _task_options(cfg, gpu=name != "data")
            folders[ctx.dir(name)] = stage.options(
                name=f"dawm {name} {cell.task}", **options
            ).remote(cwd, sweep, cell, name, *reads)
        options = _task_options(cfg, gpu=True)
        ref = cell_fn.options(name=f"dawm cell {cell.label()}", **options).remote(
            cwd, run, sweep, cell, folders[ctx.dir(MODEL_STAGES[-1])]
        )
        cells[ref] = cell
    log(f"ray: {len(folders)} model-stage tasks and {len(cells)} cell tasks submitted")
    return cells


def run_experiment_ray(
    name: str,
    sweep: Sweep,
    tasks: tuple[str, ...] | None = None,
    algos: tuple[str, ...] | None = None,
    seeds: tuple[int, ...] | None = None,
    on_row: Callable[[Row], None] | None = None,
    run: Callable[[Sweep, Cell], Row] = run_cell,
) -> dict[str, int]:
    """`run_experiment` on the connected Ray cluster (`connected`); `run` computes a cell
    inside its task (tests pass one that kills its worker)."""
    ray = import_ray()
    configs = planned(name, sweep, tasks, algos, seeds)
    store = ResultStore(sweep.results)
    finished = store.keys()
    todo = [(c, cfg) for c, cfg in configs if not is_finished(sweep, c, finished)]
    counts = {"done": 0, "skipped": len(configs) - len(todo), "pending": 0}
    if not todo:
        return counts
    check_resources(ray, todo[0][1])  # every cell of a sweep shares threads and device
    pending = _submit(ray, sweep, todo, run)
    errors: list[BaseException] = []
    with tqdm(total=len(pending), desc=f"experiment {name} (ray)", unit="cell") as bar:
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            cell = pending.pop(ref)
            bar.update(1)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as e:  # an error in the cell's code, or retries spent
                log(f"failed: {cell.label()}:\n{e}")
                errors.append(getattr(e, "cause", None) or e)  # the cell's own exception
                continue
            if isinstance(outcome, str):
                log(f"pending: dataset not built: {cell.task} ({outcome})")
                counts["pending"] += 1
            elif store.add(outcome):
                counts["done"] += 1
                if on_row is not None:
                    on_row(outcome)
            else:
                log(f"{cell.label()}: already in {store.path} (another driver?), not added")
    if errors:
        log(f"{len(errors)} of {len(todo)} cells failed; the rows of the others are saved")
        raise errors[0]
    return counts
