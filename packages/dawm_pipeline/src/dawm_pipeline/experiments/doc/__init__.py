"""docs/results.md from the results file alone: tables, pending rows, plots, a closing note.

One module per table (main_table, sanity, budget and early, ablations, idm_check, stochastic,
compute, width), the verdict against the paper (direction), plus the framing sections
(context); base.Doc holds what they share. Every planned cell without a row shows as pending,
with the reason when it is known (the dataset is not built yet), so the tables say what is
measured and what is not.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dawm_pipeline.atomic import write_text
from dawm_pipeline.experiments.doc.ablations import horizon, volume
from dawm_pipeline.experiments.doc.base import CMD, HEADLINE, Doc, pending_reason
from dawm_pipeline.experiments.doc.budget import budget, early
from dawm_pipeline.experiments.doc.compute import compute
from dawm_pipeline.experiments.doc.context import closing, data_and_scale, reproduce
from dawm_pipeline.experiments.doc.direction import direction
from dawm_pipeline.experiments.doc.idm_check import idm_check
from dawm_pipeline.experiments.doc.main_table import main, published
from dawm_pipeline.experiments.doc.sanity import sanity
from dawm_pipeline.experiments.doc.stochastic import stochastic
from dawm_pipeline.experiments.doc.width import width
from dawm_pipeline.experiments.plan import SCALES
from dawm_pipeline.experiments.results import ResultStore

SECTIONS = (
    main,
    sanity,
    budget,
    early,
    published,
    compute,
    width,
    horizon,
    volume,
    idm_check,
    stochastic,
    direction,
    closing,
)
"""The sections of each part: the headline scales first, then the archive of smaller ones."""
ARCHIVE_NOTE = (
    "Measured at smaller scales before the bench scale existed, kept for reference. At the "
    "cpu scale agents train for 4,000 updates, where published TD3+BC and IQL learning "
    "curves are at 7-67% of their final scores (issue #19): these comparisons are between "
    "agents that have barely started learning, and they say little about DAWM."
)


def render(rows: list[dict[str, Any]], plot_dir: Path, plot_prefix: str, source: str) -> str:
    doc = Doc(rows, plot_dir, plot_prefix)
    doc.add(
        "# Results: DAWM on this project's datasets",
        "",
        f"Written by `{CMD} report` from `{source}` "
        f"({len(doc.rows)} finished cells, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); "
        "regenerate it rather than editing it. Every number below is measured by this "
        "project, except the published figures, which are marked as such.",
        "",
    )
    data_and_scale(doc)
    for section in SECTIONS:
        section(doc)
    archived = tuple(
        s for s in SCALES if s not in HEADLINE and any(r["scale"] == s for r in doc.rows)
    )
    if archived:
        doc.add(f"## Archive: the {', '.join(archived)} scale{'s' * (len(archived) > 1)}", "")
        doc.add(ARCHIVE_NOTE, "")
        doc.part(archived, level=3)
        for section in SECTIONS:
            section(doc)
    reproduce(doc)
    return "\n".join(doc.lines).rstrip() + "\n"


def write_report(results: Path, doc_path: Path) -> Path:
    """Rewrite `doc_path` (and its plots in `<doc dir>/results/`) from the results file."""
    plot_dir = doc_path.parent / "results"
    text = render(ResultStore(results).rows(), plot_dir, "results/", str(results))
    write_text(doc_path, text)
    return doc_path


__all__ = ["pending_reason", "render", "write_report"]
