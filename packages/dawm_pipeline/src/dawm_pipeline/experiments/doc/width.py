"""World-model width: main-table entries measured with more than one world-model width.

When a scale's preset changes its network (the bench scale went from dim 32 to dim 64 after
issue #20's fidelity check), the newer rows supersede the older ones in the main table; the
older ones stay in the results file. Where both widths have rows for the same task and
algorithm, this table puts them side by side with each world model's step-0 velocity R²:
does a more faithful world model give the agents more?
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from dawm_pipeline.experiments.doc.base import ALGO_NAMES, Doc, wm_dim
from dawm_pipeline.experiments.summary import group, latest


def width(doc: Doc) -> None:
    if not doc.headline:
        return
    for scale in doc.scales("main"):
        rows = [r for r in doc.all_rows if r["experiment"] == "main" and r["scale"] == scale]
        by_dim: dict[tuple, dict[int, list[dict[str, Any]]]] = defaultdict(dict)
        for row in rows:
            if wm_dim(row) is not None and row.get("algo"):
                by_dim[(row["task"], row["algo"])].setdefault(wm_dim(row), []).append(row)
        compared = {k: v for k, v in by_dim.items() if len(v) > 1}
        if not compared:
            continue
        doc.heading(f"World-model width at the {scale} scale", sub=1)
        doc.add(
            "Entries measured with world models of different widths (the preset's current "
            "width is the main table's; the others are earlier rows, kept in the results "
            "file). Velocity R² = the world model's step-0 check in the generate stage.",
            "",
        )
        body = []
        for (task, algo), dims in sorted(compared.items()):
            for dim, mine in sorted(dims.items()):
                entry = next(iter(group(latest(mine)).values()))
                fidelity = entry.rows[-1].get("generate", {}).get("wm_velocity_r2")
                body.append(
                    [
                        task,
                        ALGO_NAMES[algo],
                        str(dim),
                        "n/a" if fidelity is None else f"{fidelity:.3f}",
                        entry.text("real"),
                        entry.text("dawm"),
                        entry.change(),
                        str(entry.n),
                    ]
                )
        header = ["task", "agent", "WM dim", "velocity R²", "real", "real + DAWM", "Δ", "n"]
        doc.table(header, body)
