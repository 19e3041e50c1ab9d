"""Ablation tables: horizon H and synthetic volume (DAWM-T)."""

from __future__ import annotations

from collections.abc import Callable

from dawm_pipeline.experiments import plots
from dawm_pipeline.experiments.doc.base import Doc, variants
from dawm_pipeline.experiments.summary import Entry


def ablation_table(
    doc: Doc, experiment: str, scale: str, label: Callable[[tuple], str], column: str
) -> dict[tuple, Entry]:
    """One ablation's table at a scale, a row per planned variant (`label` names it in
    `column`; its verdict reads "column=label"), and the command that reproduces its rows;
    returns the entries shown. An entry that is the main table's (the scale's own variant)
    gets no second verdict."""
    entries = doc.entries(experiment, scale)
    body, shown = [], {}
    for cell in variants(experiment, scale):
        task, entry = cell[0], entries.get(cell)
        if entry is None:
            body.append([task, label(cell), doc.reason(task), "", "", "0"])
            continue
        shown[cell] = entry
        if not doc.from_main(entry):
            doc.notes.append(
                doc.verdict(f"{experiment} ({scale}) {task} {column}={label(cell)}", entry)
            )
        real = entry.text("real") + doc.gpu(entry)
        body.append([task, label(cell), real, entry.text("dawm"), entry.change(), str(entry.n)])
    doc.table(["task", column, "real", "real + DAWM", "Δ", "n"], body)
    doc.command(experiment, scale, [r for e in shown.values() for r in e.rows])
    return shown


def horizon(doc: Doc) -> None:
    scales = doc.scales("horizon")
    if not scales:
        return
    doc.heading("Horizon ablation: H ∈ {1, 3, 7}")
    for scale in scales:
        doc.add(f"Scale `{scale}`, TD3BC; the real-only column does not depend on H.", "")
        shown = ablation_table(doc, "horizon", scale, lambda cell: str(cell[2]), "H")
        series: dict[str, dict[int, Entry]] = {}
        for (task, _, h, _, _), entry in shown.items():
            series.setdefault(task, {})[h] = entry
        if series:
            doc.image(
                plots.horizon(series, doc.plot_dir / f"horizon_{scale}.png"),
                "score vs horizon",
            )


def volume(doc: Doc) -> None:
    scales = doc.scales("dawm-t")
    if not scales:
        return
    doc.heading("DAWM-T: synthetic volume 1x vs 8x")
    doc.add(
        "Synthetic transitions per real one: 1 (1/8 of the paper's volume) vs 8 (the "
        "paper's). TD3BC.",
        "",
    )
    for scale in scales:
        doc.add(f"Scale `{scale}`.", "")
        ablation_table(doc, "dawm-t", scale, lambda cell: f"{cell[3]:g}x", "volume")
