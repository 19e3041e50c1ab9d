"""Compute: what the headline scale's cells took, and what its unfinished main table and other
experiments would take at those rates (issue #19: measure first, then plan)."""

from __future__ import annotations

from statistics import median
from typing import Any

from dawm_pipeline.experiments.doc.base import ALGO_NAMES, Doc, on_gpu, wm_dim
from dawm_pipeline.experiments.plan import ALGOS, EXPERIMENTS, TASKS, Cell, plan
from dawm_pipeline.experiments.summary import is_current, variant

MODEL_STAGES = ("train-wm", "train-idm", "generate")


def agent_seconds(row: dict[str, Any]) -> float:
    """Update seconds of a cell's agents over all their sessions; rows written before that was
    recorded give the cell's wall time (its last session, plus any stage it trained first)."""
    recorded = row.get("agent_seconds")
    return float(recorded if recorded is not None else row["wall_s"])


def stage_folder(row: dict[str, Any], name: str) -> str:
    """The folder of a row's stage (rows from before stage_dirs: its model folder's)."""
    return row.get("stage_dirs", {}).get(name, f"{row['model_dir']}:{name}")


def stage_seconds(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per stage, its seconds once per stage folder (cells share world models, IDMs and
    generated data; the longest any row recorded, since a row written by the session that
    resumed a stage may hold that session's part alone): {stage: {folder: seconds}}."""
    out: dict[str, dict[str, float]] = {name: {} for name in MODEL_STAGES}
    for row in rows:
        for name in MODEL_STAGES:
            folder, seconds = stage_folder(row, name), row["stage_seconds"][name]
            out[name][folder] = max(seconds, out[name].get(folder, 0.0))
    return out


def model_cost(rows: list[dict[str, Any]]) -> float:
    """All model-stage seconds of `rows`, each stage folder counted once."""
    return sum(sum(folders.values()) for folders in stage_seconds(rows).values())


def world_models(n: int) -> str:
    return f"{n} world model{'s' if n != 1 else ''}"


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def compute(doc: Doc) -> None:
    if not doc.headline:
        return
    for scale in doc.scales("main"):
        rows = [r for r in doc.all_rows if r["scale"] == scale and not on_gpu(r)]
        if not rows:
            continue
        doc.heading(f"Compute at the {scale} scale (CPU rows)", sub=1)
        doc.add(
            "Seconds as each row recorded them (one torch thread per cell, two cells side by "
            "side on the 2-core machine, usually beside other jobs): model stages once per "
            "stage folder; agent cells = the update time of the agents a cell trained over every "
            "session they ran in: a seed's real-only and real + DAWM agents, or the latter alone "
            "where the real-only agent was copied from a cell on the same data (rows without "
            "`real_agent_reused_from` count a copied agent's time again). Rows of earlier "
            "settings are included.",
            "",
        )
        body = []
        for task in TASKS:
            for dim in sorted({wm_dim(r) for r in rows if r["task"] == task}, key=str):
                mine = [r for r in rows if r["task"] == task and wm_dim(r) == dim]
                cells = [agent_seconds(r) for r in mine if r.get("algo") is not None]
                per_stage = stage_seconds(mine)
                body.append(
                    [
                        task,
                        str(dim),
                        *(f"{sum(per_stage[n].values()):,.0f} s" for n in MODEL_STAGES),
                        str(len(cells)),
                        f"{median(cells):,.0f} s" if cells else "",
                    ]
                )
        header = ["task", "WM dim", "WM training", "IDM", "generation", "agent cells"]
        doc.table([*header, "per cell (median)"], body)
        spent = model_cost(rows) + sum(agent_seconds(r) for r in rows if r.get("algo"))
        doc.add(f"Measured so far: {hours(spent)} of one core.", "")
        finished = [r for r in doc.all_rows if r["scale"] == scale and is_current(r)]
        remaining(doc, scale, [r for r in rows if is_current(r)], finished)


def remaining(
    doc: Doc, scale: str, current: list[dict[str, Any]], finished: list[dict[str, Any]]
) -> None:
    """What is left at this scale, costed at the medians of the CPU rows measured with its
    settings of today (`current`): the main table's cells, then the other experiments' (an
    ablation's cell at the scale's own variant is the main table's, counted there). A cell
    `finished` anywhere, a GPU included, is not left; a world model or real-only agent only
    counts as made where a CPU made it, since a lent GPU's stage folders do not outlive it."""
    done = {(r["experiment"], variant(r), r.get("seed")) for r in finished}
    left = {
        name: [
            c
            for c in plan(name, scale)
            if c.experiment == name and (name, variant(c), c.seed) not in done
        ]
        for name in EXPERIMENTS
    }
    kept = [r for r in finished if not on_gpu(r)]
    trained = {(r["task"], r["horizon"]) for r in kept}
    real_trained = {real_agent(r) for r in kept if r.get("algo")}
    pricing = Pricing(current)
    main = left.pop("main")
    if main:
        text = f"Left of the main table at this scale: {len(main)} cells. "
        doc.add(text + pricing.sentence(main, trained, real_trained), "")
    others = [c for cells in left.values() for c in cells]
    if others:
        counts = ", ".join(f"{name} {len(cells)}" for name, cells in left.items() if cells)
        models = {(c.task, c.horizon) for c in main}
        reals = {real_agent(c) for c in main}
        text = f"Left of the other experiments: {len(others)} cells ({counts}). "
        doc.add(text + pricing.sentence(others, trained | models, real_trained | reals), "")
    again = {(c.task, c.horizon) for c in main + others} & trained
    if again and pricing.per_model is not None:
        doc.add(
            "World models, IDMs and generated data live in the stage folders of the machine "
            f"that trained them (`--out`). On a new machine, {world_models(len(again))} already "
            "trained for cells still left must be trained again: "
            f"{hours(len(again) * pricing.per_model)} of one core more.",
            "",
        )


def real_agent(row_or_cell: dict[str, Any] | Cell) -> tuple:
    """What a cell's real-only agent depends on: its data (the task; a stochastic cell's is
    the `-stochastic` dataset), agent and seed. Cells that share it share that agent: the
    first trains it, the others copy it (stages/real_reuse.py)."""
    d = row_or_cell if isinstance(row_or_cell, dict) else vars(row_or_cell)
    return (d["task"], d["algo"], d["seed"])


class Pricing:
    """The medians a cell and a world model cost with today's settings on the CPU."""

    def __init__(self, current: list[dict[str, Any]]):
        by_model: dict[str, list[dict[str, Any]]] = {}
        for row in current:
            by_model.setdefault(stage_folder(row, "train-wm"), []).append(row)
        models = [model_cost(rows) for rows in by_model.values()]
        self.per_model = median(models) if models else None
        """One world model with its IDM and generated data (each world model's folder once)."""
        main = [
            r
            for r in current
            if r["experiment"] == "main" and r.get("algo") and not r.get("real_agent_reused_from")
        ]  # cells that trained both their agents
        self.per_cell = {
            a: median(s) for a in ALGOS if (s := [agent_seconds(r) for r in main if r["algo"] == a])
        }

    def sentence(
        self, cells: list[Cell], trained: set[tuple[str, int]], real_trained: set[tuple]
    ) -> str:
        """The cells' cost, with the world models (task, H) among them not yet `trained` and
        the real-only agents not yet `real_trained` (a cell trains two agents, or one when its
        real-only agent is copied: each agent costs half a cell's median)."""
        new_models = {(c.task, c.horizon) for c in cells} - trained
        lines, total, unpriced = [], 0.0, []
        if new_models and self.per_model is not None:
            total += len(new_models) * self.per_model
            lines.append(f"{world_models(len(new_models))} at {self.per_model:,.0f} s each")
        elif new_models:
            unpriced.append(f"{world_models(len(new_models))} (none measured yet)")
        for algo in ALGOS:
            mine = [c for c in cells if c.algo == algo]
            n = len(mine)
            if n and algo in self.per_cell:
                agents = n + len({real_agent(c) for c in mine} - real_trained)
                total += agents * self.per_cell[algo] / 2
                lines.append(
                    f"{n} {ALGO_NAMES[algo]} cells training {agents} agents at "
                    f"{self.per_cell[algo] / 2:,.0f} s each"
                )
            elif n:
                unpriced.append(f"{n} {ALGO_NAMES[algo]} cells (none measured yet)")
        text = (
            f"At the medians of today's settings ({'; '.join(lines)}): {hours(total)} of one "
            f"core, {hours(total / 2)} with both cores busy"
            if lines
            else "Nothing measured with today's settings yet to price them"
        )
        return text + (f"; not counted: {', '.join(unpriced)}." if unpriced else ".")
