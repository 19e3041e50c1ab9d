"""Main table: real only vs real + DAWM, and the published numbers beside it."""

from __future__ import annotations

from dawm_pipeline.experiments import paper, plots
from dawm_pipeline.experiments.doc.base import ALGO_NAMES, Doc, published_score
from dawm_pipeline.experiments.plan import ALGOS, PAPER_TASKS, TASKS
from dawm_pipeline.verdict import RULE


def main(doc: Doc) -> None:
    scales = doc.scales("main")
    if not scales:
        return
    doc.heading("Main table: real only vs real + DAWM")
    for scale in scales:
        entries = doc.main_entries(scale)
        doc.add(f"Scale `{scale}`. Normalized score, mean ± std over seeds (n per entry);")
        doc.add("Δ = relative change of the mean, and on how many seeds DAWM beat real only.")
        doc.add(
            "† = some of the entry's seeds ran on a GPU (the `--device cuda` command below).",
            "",
            RULE,
            "",
        )
        header = ["task"]
        for algo in ALGOS:
            name = ALGO_NAMES[algo]
            header += [f"{name} real", f"{name} + DAWM", "Δ", "n"]
        body, bar_entries, curve_entries = [], {}, {}
        for task in TASKS:
            row = [task]
            for algo in ALGOS:
                entry = next((e for k, e in entries.items() if k[:2] == (task, algo)), None)
                if entry is None:
                    row += [doc.reason(task), "", "", "0"]
                    continue
                label = f"{task} {ALGO_NAMES[algo]}"
                bar_entries[label] = curve_entries[label] = entry
                doc.notes.append(doc.verdict(f"main ({scale}) {label}", entry))
                row += [
                    entry.text("real") + doc.gpu(entry),
                    entry.text("dawm"),
                    entry.change(),
                    str(entry.n),
                ]
            body.append(row)
        doc.table(header, body)
        doc.command("main", scale)
        if scale == "bench":
            doc.add(
                "Where real + DAWM collapses (walker2d-medium-replay), "
                "[synthetic_diagnosis.md](synthetic_diagnosis.md) narrows down which synthetic "
                "transitions do it, on a development seed.",
                "",
            )
        if bar_entries:
            name = plots.bars(
                bar_entries, f"main, scale {scale}", doc.plot_dir / f"main_bars_{scale}.png"
            )
            doc.image(name, "per-task scores, real vs DAWM")
            name = plots.curves(curve_entries, doc.plot_dir / f"curves_{scale}.png")
            doc.image(name, "learning curves, real vs DAWM")


def published(doc: Doc) -> None:
    """Other papers' D4RL scores, in tables of their own so no cell mixes with ours (in the
    report's main part only)."""
    if not doc.headline:
        return
    doc.heading("Published numbers (D4RL data, not ours)", sub=1)
    doc.add(
        "These are results on the original D4RL datasets; ours are measured on this "
        "project's own datasets (see Data) at far smaller budgets, so the numbers are not "
        "comparable entry by entry. DAWM's per-task scores (arXiv 2509.19538) are not in "
        "the copy of the paper available offline; the per-task table below is DWM's, the "
        "world model DAWM builds on and compares against.",
        "",
        f"Per task, D4RL data, not ours: {paper.PER_TASK_SOURCE}. Mean ± std over 5 seeds "
        f"x 10 episodes, 0-1 there, x{paper.PER_TASK_SCALE:.0f} here.",
        "",
    )
    methods = paper.PER_TASK_METHODS
    body = []
    for task in PAPER_TASKS:
        cells = [paper.PER_TASK[task][m] for m in methods]
        body.append([task] + [published_score(mean, std) for mean, std in cells])
    doc.table(["task (D4RL, not ours)", *methods], body)
    doc.table(
        ["method (D4RL)", "9-task average", "source"],
        [[m, f"{v:.1f}", s] for m, v, s in paper.NINE_TASK_AVERAGES],
    )
    doc.add(*(f"- {claim}" for claim in paper.DAWM_CLAIMS), "")
