"""Ablation tables: horizon H and synthetic volume (DAWM-T)."""

from __future__ import annotations

from dawm_pipeline.experiments import plots
from dawm_pipeline.experiments.doc.base import Doc, variants


def horizon(doc: Doc) -> None:
    scales = doc.scales("horizon")
    if not scales:
        return
    doc.heading("Horizon ablation: H ∈ {1, 3, 7}")
    for scale in scales:
        entries = doc.entries("horizon", scale)
        doc.add(f"Scale `{scale}`, TD3BC; the real-only column does not depend on H.", "")
        body, series = [], {}
        for cell in variants("horizon", scale):
            task, _, h, _, _ = cell
            entry = entries.get(cell)
            if entry is None:
                body.append([task, str(h), doc.reason(task), "", "", "0"])
                continue
            series.setdefault(task, {})[h] = entry
            doc.notes.append(doc.verdict(f"horizon ({scale}) {task} H={h}", entry))
            body.append(
                [
                    task,
                    str(h),
                    entry.text("real") + doc.gpu(entry),
                    entry.text("dawm"),
                    entry.change(),
                    str(entry.n),
                ]
            )
        doc.table(["task", "H", "real", "real + DAWM", "Δ", "n"], body)
        doc.command("horizon", scale)
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
        entries = doc.entries("dawm-t", scale)
        body = []
        for cell in variants("dawm-t", scale):
            task, _, _, ratio, _ = cell
            entry = entries.get(cell)
            if entry is None:
                body.append([task, f"{ratio:g}x", doc.reason(task), "", "", "0"])
                continue
            doc.notes.append(doc.verdict(f"dawm-t ({scale}) {task} {ratio:g}x", entry))
            body.append(
                [
                    task,
                    f"{ratio:g}x",
                    entry.text("real") + doc.gpu(entry),
                    entry.text("dawm"),
                    entry.change(),
                    str(entry.n),
                ]
            )
        doc.add(f"Scale `{scale}`.", "")
        doc.table(["task", "synthetic volume", "real", "real + DAWM", "Δ", "n"], body)
        doc.command("dawm-t", scale)
