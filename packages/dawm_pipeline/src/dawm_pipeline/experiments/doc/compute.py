"""Compute: what the headline scale's cells took, and what its unfinished main table would take
at those rates (issue #19: measure first, then plan)."""

from __future__ import annotations

from statistics import median
from typing import Any

from dawm_pipeline.experiments.doc.base import ALGO_NAMES, Doc, on_gpu, wm_dim
from dawm_pipeline.experiments.plan import ALGOS, TASKS, plan
from dawm_pipeline.experiments.summary import is_current, variant

MODEL_STAGES = ("train-wm", "train-idm", "generate")


def agent_seconds(row: dict[str, Any]) -> float:
    """Update seconds of a cell's agents over all their sessions; rows written before that was
    recorded give the cell's wall time (its last session, plus any stage it trained first)."""
    recorded = row.get("agent_seconds")
    return float(recorded if recorded is not None else row["wall_s"])


def stage_seconds(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per stage, its seconds once per stage folder (cells share world models, IDMs and
    generated data): {stage: {folder: seconds}}."""
    out: dict[str, dict[str, float]] = {name: {} for name in MODEL_STAGES}
    for row in rows:
        for name in MODEL_STAGES:
            folder = row.get("stage_dirs", {}).get(name, f"{row['model_dir']}:{name}")
            out[name].setdefault(folder, row["stage_seconds"][name])
    return out


def model_cost(rows: list[dict[str, Any]]) -> float:
    """All model-stage seconds of `rows`, each stage folder counted once."""
    return sum(sum(folders.values()) for folders in stage_seconds(rows).values())


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
            "stage folder; agent cells = the update time of a seed's real-only and real + DAWM "
            "agents over every session they ran in. Rows of earlier settings are included.",
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
    """The main table's unfinished cells and world models, costed at the medians of the CPU
    rows measured with the scale's settings of today (`current`); a cell or a world model
    `finished` anywhere, a GPU included, is not left."""
    main_rows = [r for r in current if r["experiment"] == "main" and r.get("algo")]
    done = {(variant(r), r["seed"]) for r in finished if r["experiment"] == "main"}
    todo = [c for c in plan("main", scale) if (variant(c), c.seed) not in done]
    if not todo:
        return
    new_models = sorted({c.task for c in todo} - {r["task"] for r in finished})
    per_model = [model_cost([r for r in current if r["task"] == t]) for t in
                 sorted({r["task"] for r in current})]  # fmt: skip
    lines, total, unpriced = [], 0.0, []
    if new_models and per_model:
        total += len(new_models) * median(per_model)
        lines.append(f"{len(new_models)} world models at {median(per_model):,.0f} s each")
    elif new_models:
        unpriced.append(f"{len(new_models)} world models (none measured yet)")
    for algo in ALGOS:
        n = sum(c.algo == algo for c in todo)
        measured = [agent_seconds(r) for r in main_rows if r["algo"] == algo]
        if n and measured:
            total += n * median(measured)
            lines.append(f"{n} {ALGO_NAMES[algo]} cells at {median(measured):,.0f} s each")
        elif n:
            unpriced.append(f"{n} {ALGO_NAMES[algo]} cells (none measured yet)")
    priced = (
        f"At the medians of today's settings ({'; '.join(lines)}): {hours(total)} of one core, "
        f"{hours(total / 2)} with both cores busy"
        if lines
        else "Nothing measured with today's settings yet to price them"
    )
    text = f"Left of the main table at this scale: {len(todo)} cells. {priced}"
    doc.add(text + (f"; not counted: {', '.join(unpriced)}." if unpriced else "."), "")
