"""Rows of the results file grouped into table entries: per-seed scores, mean +- std, change."""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dawm_pipeline.experiments.plan import Cell, base_config, scale_settings
from dawm_pipeline.verdict import Comparison


@dataclass
class Entry:
    """One table entry: every seed of one (task, algo, variant)."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def scores(self, condition: str) -> np.ndarray:
        return np.asarray([r["scores"][condition] for r in self.rows], float)

    def mean_std(self, condition: str) -> tuple[float, float]:
        s = self.scores(condition)
        return float(s.mean()), float(s.std())

    def text(self, condition: str) -> str:
        return Comparison.mean_std(self.scores(condition))

    @property
    def n(self) -> int:
        return len(self.rows)

    def comparison(self) -> Comparison:
        """Real-only vs real + DAWM, seed by seed (rows are sorted by seed)."""
        return Comparison(self.scores("real"), self.scores("dawm"))

    def change(self) -> str:
        """Relative change of the mean, and on how many seeds DAWM beat real-only."""
        return self.comparison().change()


def latest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per cell (experiment, scale, variant, seed): a row measured with its scale's
    settings of today beats one of earlier settings, whenever either was written (a sweep
    started before a preset change may finish after it); otherwise the last one wins."""
    out: dict[tuple, dict[str, Any]] = {}
    for row in sorted(rows, key=is_current):  # stable: earlier settings first, order kept
        out[(row["experiment"], row["scale"], row.get("seed"), *variant(row))] = row
    return list(out.values())


@functools.cache
def _settings_today(scale: str) -> dict[str, Any]:
    return scale_settings(base_config(scale))


def is_current(row: dict[str, Any]) -> bool:
    """Whether the row was measured with its scale's preset as it is today."""
    recorded = row.get("settings") or {}
    return all(recorded.get(k) == v for k, v in _settings_today(row["scale"]).items())


def variant(row_or_cell: dict[str, Any] | Cell) -> tuple:
    """(task, algo, horizon, ratio, eval env): what seeds of one table entry share."""
    d = row_or_cell if isinstance(row_or_cell, dict) else dataclasses.asdict(row_or_cell)
    return (d["task"], d["algo"], d["horizon"], float(d["synthetic_ratio"]), d["eval_env"])


def group(rows: list[dict[str, Any]]) -> dict[tuple, Entry]:
    """Agent rows by variant (task, algo, horizon, ratio, eval env), seeds together."""
    out: dict[tuple, Entry] = defaultdict(Entry)
    for row in rows:
        if row.get("algo") is not None:
            out[variant(row)].rows.append(row)
    for entry in out.values():
        entry.rows.sort(key=lambda r: r["seed"])
    return dict(out)
