"""Running cells: shared model stages once per model config, agents once per (algo, seed).

Layout under `<out>/<task>/<scale>-<model hash>/`: the pipeline stages `data`, `train-wm`,
`train-idm` and `generate` (shared by every algorithm and seed that uses the same world
model), and `agents/<algo>-seed<k>-<hash>/` with `train-agent` and `evaluate`. Agents are
evaluated in their dataset's env: a `-stochastic` task's data come from, and its agents are
scored in, the stochastic env. The pipeline's own stage hashes decide what is finished; an
interrupted stage resumes from its checkpoints.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from dawm_pipeline.config import PipelineConfig
from dawm_pipeline.data.stochastic import perturbation_record
from dawm_pipeline.experiments.plan import SCALES, Cell, cell_config, plan
from dawm_pipeline.experiments.results import ResultStore
from dawm_pipeline.pipeline import Context, run_stage, stage_inputs
from dawm_pipeline.runs import config_hash, package_versions, write_run_record
from dawm_pipeline.stages.train_agent import job_name

SHARED = ("data", "train-wm", "train-idm", "generate")
CURVE = "curve.csv"


class DatasetMissing(Exception):
    """The data stage found no dataset for the task: its cells are pending, not failed."""


def log(msg: str) -> None:
    print(f"[experiments] {msg}", file=sys.stderr, flush=True)


@dataclass
class CellContext(Context):
    """A pipeline context whose model stages live in a shared directory."""

    shared: Path = Path()

    def dir(self, stage: str) -> Path:
        return self.shared / stage if stage in SHARED else self.run_dir / stage


@dataclass
class Sweep:
    """Where results go and what every cell's config gets on top of its scale."""

    scale: str = "cpu"
    out: Path = Path("runs/experiments")
    results: Path = Path("docs/results/results.jsonl")
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    """PipelineConfig fields set on every cell (threads, device, sampler)."""
    dataset_paths: dict[str, str] = dataclasses.field(default_factory=dict)
    """task -> D4RL hdf5 file, read instead of the default source."""

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


def _dirs(sweep: Sweep, cell: Cell, cfg: PipelineConfig) -> tuple[Path, Path]:
    model = config_hash(stage_inputs(cfg, "generate"))[:10]
    shared = Path(sweep.out) / cell.task / f"{sweep.scale}-{model}"
    if cell.algo is None:
        return shared, shared
    agents = config_hash(stage_inputs(cfg, "train-agent"))[:8]
    return shared, shared / "agents" / f"{cell.algo}-seed{cell.seed}-{agents}"


def _curve(path: Path) -> list[list[float]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [
            [float(row["step"]), float(row["eval_normalized_mean"])]
            for row in csv.DictReader(f)
            if row.get("eval_normalized_mean")
        ]


def run_cell(sweep: Sweep, cell: Cell) -> dict[str, Any]:
    """Run (or reuse) every stage a cell needs; returns its results row."""
    cfg = sweep.config(cell)
    torch.set_num_threads(cfg.threads)
    shared, cell_dir = _dirs(sweep, cell, cfg)
    start = time.perf_counter()
    ctx = CellContext(cfg, cell_dir, shared=shared)
    try:
        records = {"data": run_stage(ctx, "data")}
    except FileNotFoundError as e:
        raise DatasetMissing(str(e)) from e
    records |= {name: run_stage(ctx, name) for name in SHARED[1:]}
    dataset = records["data"]["summary"]["dataset"]
    row: dict[str, Any] = {
        "experiment": cell.experiment,
        "key": cell_key(cell, cfg),
        **dataclasses.asdict(cell),
        "scale": sweep.scale,
        "dataset": {k: dataset[k] for k in ("name", "source_label", "dataset_id", "fingerprint")}
        | {"transitions": records["data"]["summary"]["used_transitions"]},
        "model_dir": str(shared),
        "stage_seconds": {name: records[name]["seconds"] for name in SHARED},
        "settings": {
            "preset": cfg.preset,
            "wm_dim": cfg.wm.dim,
            "wm_dim_mults": list(cfg.wm.dim_mults),
            "wm_steps": cfg.wm.steps,
            "wm_batch": cfg.wm.batch_size,
            "agent_steps": cfg.agent.steps,
            "agent_batch": cfg.agent.batch_size,
            "final_eval_episodes": cfg.agent.final_eval_episodes,
        },
        "idm": records["train-idm"]["summary"],
        "generate": records["generate"]["summary"],
    }
    if cell.algo is not None:
        run_stage(ctx, "train-agent")
        evaluate = run_stage(ctx, "evaluate")
        row |= perturbation_record(cell.task)
        table = evaluate["summary"]["table"][cell.algo]
        row["scores"] = {cond: table[cond]["mean"] for cond in table}
        row["curves"] = {
            cond: _curve(ctx.dir("train-agent") / job_name(cell.algo, cell.seed, cond) / CURVE)
            for cond in table
        }
        row["agent_dir"] = str(cell_dir)
        write_run_record(cell_dir, cfg.to_dict(), dataset)
    row |= {
        "config_hash": config_hash(cfg.to_dict()),
        "device": cfg.device,
        "threads": cfg.threads,
        "versions": package_versions(),
        "wall_s": round(time.perf_counter() - start, 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return row


def run_experiment(
    name: str,
    sweep: Sweep,
    tasks: tuple[str, ...] | None = None,
    algos: tuple[str, ...] | None = None,
    seeds: tuple[int, ...] | None = None,
    on_row=None,
) -> dict[str, int]:
    """Run every cell of an experiment not yet in the results file; returns counts."""
    if sweep.scale not in SCALES:
        raise ValueError(f"unknown scale {sweep.scale!r}: use one of {', '.join(SCALES)}")
    cells = plan(name, sweep.scale, tasks, algos, seeds)
    store = ResultStore(sweep.results)
    finished = store.keys()
    counts = {"done": 0, "skipped": 0, "pending": 0}
    missing: dict[str, str] = {}
    configs = [(cell, sweep.config(cell)) for cell in cells]  # bad settings fail before work
    for cell, cfg in tqdm(configs, desc=f"experiment {name}", unit="cell"):
        if cell.task in missing:
            counts["pending"] += 1
            continue
        if (cell.experiment, cell_key(cell, cfg)) in finished:
            counts["skipped"] += 1
            continue
        log(f"cell {cell.label()}")
        try:
            row = run_cell(sweep, cell)
        except DatasetMissing as e:
            missing[cell.task] = str(e)
            log(f"pending: dataset not built: {cell.task} ({e})")
            counts["pending"] += 1
            continue
        store.append(row)
        counts["done"] += 1
        if on_row is not None:
            on_row(row)
    return counts
