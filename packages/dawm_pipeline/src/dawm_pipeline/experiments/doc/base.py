"""What every section of docs/results.md shares: the rows, the output lines, the verdict tally,
the pending-cell reasons and the reproduce commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dawm_pipeline.agents import AGENTS
from dawm_pipeline.experiments import paper
from dawm_pipeline.experiments.plan import (
    ALGOS,
    SCALES,
    TASKS,
    plan,
)
from dawm_pipeline.experiments.summary import Entry, group, is_current, latest, variant
from dawm_pipeline.tasks import resolve
from dawm_pipeline.verdict import WORDS

ALGO_NAMES = {name: spec.label for name, spec in AGENTS.items()}
HEADLINE = ("bench", "paper")
"""Scales whose agents train long enough to learn (issue #19): the report's main part. The
others (cpu: 4,000 updates, tiny) go to its archive."""
CMD = "python -m dawm_pipeline.experiments"


def on_gpu(row: dict[str, Any]) -> bool:
    return str(row.get("device", "cpu")).startswith("cuda")


def wm_dim(row: dict[str, Any]) -> int | None:
    """The width of the world model a row was measured with (None before rows recorded it)."""
    return (row.get("settings") or {}).get("wm_dim")


def pending_reason(task: str) -> str:
    """'pending: dataset not built' when the task's data cannot be loaded here, else 'not run'."""
    from dawm_pipeline.data import bundled
    from dawm_pipeline.data.load import resolve_source

    try:
        if resolve_source(task) == "bundled":
            bundled.read_manifest(resolve(task).robot.name)
    except FileNotFoundError:
        return "pending: dataset not built"
    return "pending: not run"


class Doc:
    """Builds the markdown for one results file."""

    def __init__(self, rows: list[dict[str, Any]], plot_dir: Path, plot_prefix: str):
        self.all_rows = rows
        self.rows = latest(rows)
        self.plot_dir = plot_dir
        self.prefix = plot_prefix
        self.reasons: dict[str, str] = {}
        self.lines: list[str] = []
        self.part(HEADLINE, level=2)

    def part(self, scales: tuple[str, ...], level: int) -> None:
        """Start a part of the report: its sections show these scales, headed at `level`,
        with a verdict tally of their own. The headline part shows its first scale as
        pending when nothing ran at it; an archive part shows only what ran."""
        self.only, self.level = scales, level
        self.notes: list[str] = []
        self.tally: dict[str, int] = dict.fromkeys(WORDS, 0)

    @property
    def headline(self) -> bool:
        return self.only == HEADLINE

    def heading(self, title: str, sub: int = 0) -> None:
        self.add(f"{'#' * (self.level + sub)} {title}", "")

    def reason(self, task: str) -> str:
        if task not in self.reasons:
            self.reasons[task] = pending_reason(task)
        return self.reasons[task]

    def of(self, experiment: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["experiment"] == experiment]

    def scales(self, experiment: str) -> list[str]:
        """The part's scales this experiment has rows at (the headline: at least its first)."""
        present = {r["scale"] for r in self.of(experiment)}
        shown = [s for s in SCALES if s in present and s in self.only]
        return shown or (list(self.only[:1]) if self.headline else [])

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, header: list[str], body: list[list[str]]) -> None:
        self.add("| " + " | ".join(header) + " |", "|" + "---|" * len(header))
        self.add(*("| " + " | ".join(row) + " |" for row in body), "")

    def image(self, name: str, alt: str) -> None:
        self.add(f"![{alt}]({self.prefix}{name})", "")

    def entries(self, experiment: str, scale: str) -> dict[tuple, Entry]:
        """The experiment's entries at a scale. At an ablation's variant that is the scale's
        own (plan's `shared_with_main`), a seed without a row of the ablation's own (written
        before the two were shared) takes the main table's, and so does one whose own row is
        of earlier settings than main's: an ablation's own row stays its closest control."""
        rows = [r for r in self.of(experiment) if r["scale"] == scale]
        if experiment == "main":
            return group(rows)
        cells = plan(experiment, scale, algos=ALGOS)
        shared = {variant(c) for c in cells if c.experiment == "main"}
        candidates = rows + [
            r for r in self.of("main") if r["scale"] == scale and variant(r) in shared
        ]
        best: dict[tuple, dict[str, Any]] = {}
        for row in sorted(candidates, key=lambda r: (is_current(r), r["experiment"] != "main")):
            best[(variant(row), row.get("seed"))] = row  # the last, i.e. preferred, wins
        return group(list(best.values()))

    def main_entries(self, scale: str) -> dict[tuple, Entry]:
        """The main table's entries: the scale's own variant (H, ratio, plain env) per task
        and algorithm, keyed (task, algo, ...)."""
        planned = {variant(c) for c in plan("main", scale)}
        return {k: e for k, e in self.entries("main", scale).items() if k in planned}

    @staticmethod
    def from_main(entry: Entry) -> bool:
        """Whether an ablation's entry holds main table rows (their verdict is counted there)."""
        return any(r["experiment"] == "main" for r in entry.rows)

    @staticmethod
    def gpu(entry: Entry) -> str:
        return " †" if any(on_gpu(r) for r in entry.rows) else ""

    def verdict(self, label: str, entry: Entry) -> str:
        comparison = entry.comparison()
        self.tally[comparison.kind] += 1
        return comparison.sentence(label)

    def command(
        self, experiment: str, scale: str, rows: list[dict[str, Any]] | None = None
    ) -> None:
        """The commands that recompute (or, when finished, skip) this section's rows
        (default: every row of the experiment at this scale): one for the rows measured on
        the CPU, one for those measured on a GPU."""
        if rows is None:
            rows = [r for r in self.of(experiment) if r["scale"] == scale]
        for gpu in (False, True):
            part = [r for r in rows if on_gpu(r) == gpu]
            if not part:
                continue
            parts = [CMD, experiment, "--scale", scale, "--tasks"]
            parts += [t for t in TASKS if any(r["task"] == t for r in part)]
            algos = [a for a in ALGOS if any(r.get("algo") == a for r in part)]
            if algos:
                parts += ["--algos", *algos, "--seeds"]
                parts += [
                    str(s) for s in sorted({r["seed"] for r in part if r.get("seed") is not None})
                ]
            if any((r.get("settings") or {}).get("agent_batched_seeds") for r in part):
                parts += ["--batch-seeds"]  # how the rows were made, to make them the same way
            if gpu:
                parts += ["--device", "cuda"]
            label = "Measured rows on a GPU (†)" if gpu else "Measured rows"
            self.add(f"{label}: `{' '.join(parts)}`", "")


def variants(experiment: str, scale: str) -> list[tuple]:
    seen: dict[tuple, None] = {}
    for cell in plan(experiment, scale):
        seen[variant(cell)] = None
    return list(seen)


def published_score(mean: float, std: float | None) -> str:
    """A published 0-1 score on our 0-100 scale, at the two digits the table printed."""
    text = f"{mean * paper.PER_TASK_SCALE:.0f}"
    return text if std is None else f"{text} ± {std * paper.PER_TASK_SCALE:.0f}"
