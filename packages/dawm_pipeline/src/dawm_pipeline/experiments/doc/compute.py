"""Compute: what the headline scale's cells took, and what its unfinished main table would take
at those rates (issue #19: measure first, then plan)."""

from __future__ import annotations

from statistics import median
from typing import Any

from dawm_pipeline.experiments.doc.base import ALGO_NAMES, Doc, on_gpu
from dawm_pipeline.experiments.plan import ALGOS, TASKS, plan
from dawm_pipeline.experiments.summary import variant

MODEL_STAGES = ("train-wm", "train-idm", "generate")


def agent_seconds(row: dict[str, Any]) -> float:
    """Seconds of a cell's agents (train-agent + evaluate); rows written before that was
    recorded give the cell's wall time, which also holds any stage it had to train first."""
    return float(row["agent_seconds"] if "agent_seconds" in row else row["wall_s"])


def model_seconds(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per world model (its folder): the seconds of each model stage, from its rows."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        out.setdefault(row["model_dir"], {s: row["stage_seconds"][s] for s in MODEL_STAGES})
    return out


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def compute(doc: Doc) -> None:
    if not doc.headline:
        return
    for scale in doc.scales("main"):
        rows = [r for r in doc.rows if r["scale"] == scale and not on_gpu(r)]
        if not rows:
            continue
        doc.heading(f"Compute at the {scale} scale (CPU rows)", sub=1)
        models = model_seconds(rows)
        agents = [r for r in rows if r.get("algo") is not None]
        body = []
        for task in TASKS:
            mine = [r for r in rows if r["task"] == task]
            if not mine:
                continue
            stages = [models[d] for d in dict.fromkeys(r["model_dir"] for r in mine)]
            cells = [agent_seconds(r) for r in agents if r["task"] == task]
            body.append(
                [
                    task,
                    str(len(stages)),
                    *(f"{sum(s[name] for s in stages):,.0f} s" for name in MODEL_STAGES),
                    str(len(cells)),
                    f"{median(cells):,.0f} s" if cells else "",
                ]
            )
        doc.add(
            "Seconds as each row recorded them (one torch thread per cell, two cells side by "
            "side on the 2-core machine, usually beside other jobs). A cell trains its seed's "
            "real-only and real + DAWM agents; a world model is trained once per task and "
            "setting and reused by every cell of it.",
            "",
        )
        header = ["task", "world models", "WM training", "IDM", "generation", "agent cells"]
        doc.table([*header, "per cell (median)"], body)
        spent = sum(sum(s.values()) for s in models.values()) + sum(map(agent_seconds, agents))
        doc.add(f"Measured so far: {hours(spent)} of one core.", "")
        remaining(doc, scale, models, agents)


def remaining(
    doc: Doc, scale: str, models: dict[str, dict[str, float]], agents: list[dict[str, Any]]
) -> None:
    """The main table's unfinished cells and world models, costed at the measured medians."""
    done = {(variant(r), r["seed"]) for r in agents if r["experiment"] == "main"}
    todo = [c for c in plan("main", scale) if (variant(c), c.seed) not in done]
    if not todo:
        return
    have_model = {r["task"] for r in agents} | {
        r["task"] for r in doc.rows if r["scale"] == scale and r["experiment"] == "idm-check"
    }
    new_models = sorted({c.task for c in todo} - have_model)
    per_model = median(sum(s.values()) for s in models.values()) if models else None
    lines, total, unpriced = [], 0.0, []
    if new_models:
        if per_model is None:
            unpriced.append(f"{len(new_models)} world models")
        else:
            total += len(new_models) * per_model
            lines.append(f"{len(new_models)} world models at {per_model:,.0f} s each")
    for algo in ALGOS:
        n = sum(c.algo == algo for c in todo)
        measured = [agent_seconds(r) for r in agents if r["algo"] == algo]
        if not n:
            continue
        if measured:
            total += n * median(measured)
            lines.append(f"{n} {ALGO_NAMES[algo]} cells at {median(measured):,.0f} s each")
        else:
            unpriced.append(f"{n} {ALGO_NAMES[algo]} cells (none measured yet)")
    text = (
        f"Left of the main table at this scale: {len(todo)} cells. At the measured medians "
        f"({'; '.join(lines)}): {hours(total)} of one core, {hours(total / 2)} with both "
        "cores busy"
    )
    doc.add(text + (f"; not counted: {', '.join(unpriced)}." if unpriced else "."), "")
