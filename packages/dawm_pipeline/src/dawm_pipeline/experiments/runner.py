"""Running cells: every stage once per distinct input, shared across cells.

Cells use the pipeline's own layout under `<out>/<task>/`: stage folders named by the hash
of their inputs (`stages/<stage>-<hash>/`), so a world model, IDM or generated set is made
once for every cell that needs the same one (e.g. DAWM-T's 1x and 8x cells share the world
model), plus one record folder per cell (`<scale>-<algo>-seed<k>-<key>/run.json`). Agents are
evaluated in their dataset's env: a `-stochastic` task's data come from, and its agents are
scored in, the stochastic env. The results file decides which cells are finished (a row made
seed-batched counts for a sweep of lone seeds, and the other way round), the stage hashes which
stages are; an interrupted stage resumes from its checkpoints. `run_experiment` runs the
cells here, one after another (`--launcher local`); ray_launcher.py runs the same `run_cell`
as Ray tasks.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from dawm_pipeline.atomic import read_json
from dawm_pipeline.config import PipelineConfig
from dawm_pipeline.experiments.plan import SCALES, Cell, cell_config, plan, scale_settings
from dawm_pipeline.experiments.results import ResultStore
from dawm_pipeline.pipeline import run_stage
from dawm_pipeline.runs import config_hash, package_versions, write_run_record
from dawm_pipeline.stage_graph import Context, stage_inputs
from dawm_pipeline.stages.real_reuse import reused_from
from dawm_pipeline.stages.train_agent import CONDITIONS, job_name, read_curve, training_seconds
from dawm_pipeline.tasks import resolve
from dawm_pipeline.tasks.stochastic import perturbation_record

MODEL_STAGES = ("data", "train-wm", "train-idm", "generate")


class DatasetMissing(Exception):
    """The data stage found no dataset for the task: its cells are pending, not failed."""


def log(msg: str) -> None:
    print(f"[experiments] {msg}", file=sys.stderr, flush=True)


@dataclass
class Sweep:
    """Where results go and what every cell's config gets on top of its scale."""

    scale: str = "cpu"
    out: Path = Path("runs/experiments")
    results: Path = Path("docs/results/results.jsonl")
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    """PipelineConfig fields set on every cell (threads, device, sampler, log, cuda_graph,
    eval_workers)."""
    dataset_paths: dict[str, str] = dataclasses.field(default_factory=dict)
    """task -> D4RL hdf5 file, read instead of the default source."""
    batch_seeds: bool = False
    """Run the seeds of a cell together, their agents as one batched network (a GPU's way to
    train ten agents at once); each seed still gets its own row."""

    def config(self, cell: Cell) -> PipelineConfig:
        extra = dict(self.overrides)
        if cell.task in self.dataset_paths:
            extra |= {"dataset_source": "d4rl", "dataset_path": self.dataset_paths[cell.task]}
        return cell_config(cell, self.scale, out=str(self.out), **extra)


def cell_key(cell: Cell, cfg: PipelineConfig) -> str:
    """Hash of everything the cell's result depends on (its variant and all stage inputs;
    a stochastic task's perturbation is part of its data stage's inputs)."""
    last = "evaluate" if cell.algo is not None else "generate"
    return config_hash({"cell": dataclasses.asdict(cell), "inputs": stage_inputs(cfg, last)})


def cell_dir(sweep: Sweep, cells: list[Cell], cfg: PipelineConfig) -> Path:
    """The cells' record folder (their stages live in the task's shared stage store)."""
    cell = cells[0]
    seeds = "-".join(str(c.seed) for c in cells)
    who = f"{cell.algo}-seed{seeds}" if cell.algo is not None else "model"
    return Path(sweep.out) / cell.task / f"{sweep.scale}-{who}-{cell_key(cell, cfg)[:10]}"


def row_key(sweep: Sweep, cell: Cell) -> str:
    """A cell's results key: its own settings, batched or not, never its group-mates' seeds
    (so a later sweep with more seeds skips the rows already made)."""
    cfg = sweep.config(cell)
    if sweep.batch_seeds and cell.algo is not None:
        cfg = dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, batched=True))
    return cell_key(cell, cfg)


def row_keys(sweep: Sweep, cell: Cell) -> set[str]:
    """The keys under which a cell counts as finished: its own, and for an agent cell the key
    it has when run the other way (seed-batched or one seed alone). Batching moves a run no
    more than the thread count does (docs/agents.md, "Seed-batched agents"), and threads and
    device are in no key: so either row measures the cell, and rows made seed-batched on a
    GPU are not trained again on a CPU."""
    if cell.algo is None:
        return {row_key(sweep, cell)}
    return {row_key(dataclasses.replace(sweep, batch_seeds=b), cell) for b in (False, True)}


def is_finished(sweep: Sweep, cell: Cell, finished: set[tuple[str, str]]) -> bool:
    """Whether the results file (its `finished` keys) already holds a row for `cell`."""
    return any((cell.experiment, key) in finished for key in row_keys(sweep, cell))


def group_config(sweep: Sweep, cells: list[Cell]) -> PipelineConfig:
    """The pipeline config of cells that differ only in seed: all their seeds, and their
    agents batched when there are several."""
    cfg = sweep.config(cells[0])
    if len(cells) == 1:
        return cfg
    agent = dataclasses.replace(cfg.agent, batched=True)
    return dataclasses.replace(cfg, seeds=tuple(c.seed for c in cells), agent=agent)


def run_cell(sweep: Sweep, cell: Cell) -> dict[str, Any]:
    """Run (or reuse) every stage a cell needs; returns its results row."""
    return run_cells(sweep, [cell])[0]


def run_cells(sweep: Sweep, cells: list[Cell]) -> list[dict[str, Any]]:
    """Run (or reuse) every stage of cells that differ only in seed, together; one results
    row per cell."""
    cfg = group_config(sweep, cells)
    torch.set_num_threads(cfg.threads)
    start = time.perf_counter()
    ctx = Context(cfg, cell_dir(sweep, cells, cfg))
    try:
        records = {"data": run_stage(ctx, "data")}
    except FileNotFoundError as e:
        raise DatasetMissing(str(e)) from e
    records |= {name: run_stage(ctx, name) for name in MODEL_STAGES[1:]}
    dataset = records["data"]["summary"]["dataset"]
    algo = cells[0].algo
    scores: dict[str, Any] = {}
    if algo is not None:
        run_stage(ctx, "train-agent")
        run_stage(ctx, "evaluate")
        scores = read_json(ctx.dir("evaluate") / "scores.json")["jobs"]
        write_run_record(ctx.run_dir, cfg.to_dict(), dataset, ctx.stage_dirs())
    rows = []
    for cell in cells:
        row: dict[str, Any] = {
            "experiment": cell.experiment,
            "key": row_key(sweep, cell),
            **dataclasses.asdict(cell),
            "scale": sweep.scale,
            "dataset": {
                k: dataset[k] for k in ("name", "source_label", "dataset_id", "fingerprint")
            }
            | {"transitions": records["data"]["summary"]["used_transitions"]},
            "model_dir": str(ctx.dir("train-wm")),
            "stage_dirs": {name: str(ctx.dir(name)) for name in MODEL_STAGES},
            "stage_seconds": {name: stage_seconds(name, records[name]) for name in MODEL_STAGES},
            "settings": scale_settings(cfg)
            | {
                "agent_batched_seeds": list(cfg.seeds) if cfg.agent.batched else None,
                "final_eval_episodes": cfg.agent.final_eval_episodes,
            },
            "idm": records["train-idm"]["summary"],
            "generate": records["generate"]["summary"],
        }
        if algo is not None:
            row |= perturbation_record(resolve(cell.task))
            row["scores"] = {
                cond: scores[job_name(algo, cell.seed, cond)]["normalized_mean"]
                for cond in CONDITIONS
            }
            row["curves"] = {cond: read_curve(ctx, algo, cell.seed, cond) for cond in CONDITIONS}
            row["agent_dir"] = str(ctx.dir("train-agent"))
            row["agent_seconds"] = cell_training_seconds(ctx, cell, len(cells))
            real_job = ctx.dir("train-agent") / job_name(algo, cell.seed, "real")
            row["real_agent_reused_from"] = reused_from(real_job)
        row |= {
            "config_hash": config_hash(cfg.to_dict()),
            "device": cfg.device,
            "threads": cfg.threads,
            "versions": package_versions(),
            "wall_s": round(time.perf_counter() - start, 1),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        rows.append(row)
    return rows


def stage_seconds(name: str, record: dict[str, Any]) -> float:
    """A stage's seconds. Its own clock covers only the session that finished it; a world model
    resumed across sessions keeps its training time in its fit history (steps over steps/s in
    the summary), so that counts when it is longer."""
    seconds = record["seconds"]
    summary = record.get("summary") or {}
    if name == "train-wm" and summary.get("steps") and summary.get("steps_per_second"):
        seconds = max(seconds, round(summary["steps"] / summary["steps_per_second"], 3))
    return seconds


def cell_training_seconds(ctx: Context, cell: Cell, group: int) -> float | None:
    """Update seconds of the agents the cell trained, summed over every session they trained
    in (a stage's own `seconds` counts only its last session). A real-only agent copied from
    another stage (real_reuse) cost nothing here and is left out; a batch of `group` cells
    trained together is shared out evenly."""
    agent_dir = ctx.dir("train-agent")
    jobs = {c: agent_dir / job_name(cell.algo, cell.seed, c) for c in CONDITIONS}
    times = {c: training_seconds(agent_dir, cell.algo, cell.seed, c) for c in CONDITIONS}
    if any(t is None for t in times.values()):
        return None
    if ctx.cfg.agent.batched:
        return round(times[CONDITIONS[0]] / group, 1)
    return round(sum(t for c, t in times.items() if reused_from(jobs[c]) is None), 1)


def seed_groups(sweep: Sweep, cells: list[Cell]) -> list[list[Cell]]:
    """Cells run together: with `batch_seeds`, the agent cells that differ only in seed;
    otherwise each cell alone."""
    if not sweep.batch_seeds:
        return [[cell] for cell in cells]
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        key = dataclasses.astuple(dataclasses.replace(cell, seed=None))
        groups.setdefault(key if cell.algo is not None else (id(cell),), []).append(cell)
    return list(groups.values())


def planned(
    name: str,
    sweep: Sweep,
    tasks: tuple[str, ...] | None = None,
    algos: tuple[str, ...] | None = None,
    seeds: tuple[int, ...] | None = None,
) -> list[tuple[Cell, PipelineConfig]]:
    """Every cell of the experiment with its config: bad settings fail here, before work."""
    if sweep.scale not in SCALES:
        raise ValueError(f"unknown scale {sweep.scale!r}: use one of {', '.join(SCALES)}")
    configs = [(cell, sweep.config(cell)) for cell in plan(name, sweep.scale, tasks, algos, seeds)]
    log(f"{name}: {len(configs)} cells; results in {sweep.results}, stage folders and cell "
        f"records in {Path(sweep.out) / '<task>'}")  # fmt: skip
    return configs


def run_experiment(
    name: str,
    sweep: Sweep,
    tasks: tuple[str, ...] | None = None,
    algos: tuple[str, ...] | None = None,
    seeds: tuple[int, ...] | None = None,
    on_row=None,
) -> dict[str, int]:
    """Run every cell of an experiment not yet in the results file, one after another in
    this process (`--launcher local`); returns counts."""
    configs = planned(name, sweep, tasks, algos, seeds)
    store = ResultStore(sweep.results)
    finished = store.keys()
    counts = {"done": 0, "skipped": 0, "pending": 0}
    missing: dict[str, str] = {}
    groups = seed_groups(sweep, [cell for cell, _ in configs])
    for group in tqdm(groups, desc=f"experiment {name}", unit="cell group"):
        if group[0].task in missing:
            counts["pending"] += len(group)
            continue
        todo = [c for c in group if not is_finished(sweep, c, finished)]
        counts["skipped"] += len(group) - len(todo)
        if not todo:
            continue
        log(f"cell {'; '.join(c.label() for c in todo)}")
        try:
            rows = run_cells(sweep, todo)
        except DatasetMissing as e:
            missing[group[0].task] = str(e)
            log(f"pending: dataset not built: {group[0].task} ({e})")
            counts["pending"] += len(todo)
            continue
        for row in rows:
            # add, not append: another process may have finished the same cell meanwhile
            if (row["experiment"], row["key"]) in finished or not store.add(row):
                continue
            counts["done"] += 1
            if on_row is not None:
                on_row(row)
    return counts
