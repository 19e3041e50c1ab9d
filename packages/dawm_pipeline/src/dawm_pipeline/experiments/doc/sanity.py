"""Sanity check (issue #19): do real-only agents reach the behaviour data's own level?

TD3+BC and IQL score at or above behaviour cloning on D4RL's medium data, so a real-only
agent below the mean normalized return of the data it learns from points at the agents, the
budget or the evaluation, not at DAWM. The data's level comes from the bundle manifests
(measured when the data were built, docs/datasets.md), matched to the rows by dataset
fingerprint: rows measured on other data (a rebuilt bundle, a D4RL file) are left out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from dawm_pipeline.data.bundled import read_manifest
from dawm_pipeline.experiments.doc.base import ALGO_NAMES, Doc
from dawm_pipeline.experiments.plan import SCALES, base_config
from dawm_pipeline.tasks import resolve

SANITY_TASKS = ("halfcheetah-medium", "hopper-medium", "walker2d-medium")
"""D4RL's medium datasets: one behaviour policy, whose level BC reaches."""
PUBLISHED_T90 = {
    ("halfcheetah-medium", "td3bc"): 31_000,
    ("hopper-medium", "td3bc"): 349_000,
    ("walker2d-medium", "td3bc"): 207_000,
    ("halfcheetah-medium", "iql"): 77_000,
    ("hopper-medium", "iql"): 26_000,
    ("walker2d-medium", "iql"): 178_000,
}
"""Updates until the published seed-mean curve first reaches 90% of its final score (d3rlpy
benchmark logs on D4RL v0, 10 seeds; ../shared/REFERENCES.md): an agent trained for fewer
updates may still be below its final level, so a miss there may be the budget's, not DAWM's
or the agent's."""


def data_level(task: str) -> tuple[float, str] | None:
    """(mean normalized return, fingerprint) of the bundled dataset, when the bundle has it."""
    try:
        stats = read_manifest(resolve(task).robot.name)["stats"].get(task)
    except FileNotFoundError:
        return None
    if not stats or "normalized_mean" not in stats:
        return None
    return float(stats["normalized_mean"]), str(stats["fingerprint"])


def sanity(doc: Doc) -> None:
    if not doc.headline:
        return
    for scale in doc.scales("main"):
        body = []
        for (task, algo, *_), entry in sorted(doc.main_entries(scale).items()):
            level = data_level(task) if task in SANITY_TASKS else None
            if level is None:
                continue
            mine = [r for r in entry.rows if r.get("dataset", {}).get("fingerprint") == level[1]]
            if not mine:
                continue
            real = [r["scores"]["real"] for r in mine]
            mean = sum(real) / len(real)
            reached = sum(s >= level[0] for s in real)
            t90 = PUBLISHED_T90.get((task, algo))
            updates = mine[0].get("settings", {}).get("agent_steps")
            body.append(
                [
                    task,
                    ALGO_NAMES[algo],
                    f"{level[0]:.1f}",
                    f"{mean:.1f}",
                    f"{reached}/{len(real)}" + _planned(scale, task, len(real)),
                    "yes" if mean >= level[0] else "**no**" + _budget_note(t90, updates),
                    f"{t90 // 1000}k" if t90 else "",
                ]
            )
        if not body:
            continue
        doc.heading(f"Sanity check at the {scale} scale: real only against the data", sub=1)
        doc.add(
            "Real-only agents on the medium datasets against the mean normalized return of the "
            "data they learn from (the bundle manifest's, measured when the data were built). "
            "TD3+BC and IQL reach behaviour cloning's level on D4RL's medium data, so a mean "
            "below the data's says the agents, not DAWM, need looking at first.",
            "",
        )
        doc.table(
            [
                "task",
                "agent",
                "data",
                "real only (mean)",
                "seeds at or above",
                "reached",
                "published t90",
            ],
            body,
        )
        doc.add(
            "Published t90: updates until the published learning curve (d3rlpy's benchmark "
            "logs, D4RL v0) first reaches 90% of its final score; where it exceeds the updates "
            "trained, a miss may be the budget's rather than the agent's.",
            "",
        )
    probe(doc)
    past_budget(doc)


PROBE_FILE = "sanity_probe.jsonl"
"""benchmarks/sanity_probe.py's evaluations (development seeds), beside the plots."""
PROBE_POINTS = 5
"""Evaluations averaged into a probe run's score, as the bench's final score."""


def probe_runs(doc: Doc, name: str) -> dict[tuple, list[dict]] | None:
    """A probe file's rows beside the plots, per (env, seed, variant) run; None where the
    report has no headline part or the file is missing."""
    path = Path(doc.plot_dir) / name
    if not doc.headline or not path.exists():
        return None
    runs: dict[tuple, list[dict]] = defaultdict(list)
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            runs[(row["env"], row["seed"], row["variant"])].append(row)
    return runs


def probe(doc: Doc) -> None:
    """The probe of a miss: each agent against behaviour cloning on the same real data."""
    runs = probe_runs(doc, PROBE_FILE)
    if runs is None:
        return
    doc.heading("Probing a miss: the agents against behaviour cloning", sub=1)
    doc.add(
        "`benchmarks/sanity_probe.py` trains, on the same real data and a development seed "
        "(not the bench's evaluation seeds), the bench's agents and each one's behaviour "
        "cloning: `td3bc` (α = 2.5) against `bc` (the same agent with α = 0), `iql` (β = 3) "
        "against `iql_beta0` (β = 0: every advantage weight 1, so IQL's actor clones the "
        "data). Score: the mean of the last "
        f"{PROBE_POINTS} evaluations (10 episodes each), as the bench's.",
        "",
    )
    body = []
    reached: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for (env, seed, variant), rows in sorted(runs.items()):
        rows.sort(key=lambda r: r["updates"])
        last = rows[-PROBE_POINTS:]
        score = sum(r["normalized_mean"] for r in last) / len(last)
        reached[(env, variant)].append(score >= rows[0]["data_normalized_mean"])
        body.append(
            [
                env,
                variant,
                str(seed),
                f"{rows[-1]['updates'] // 1000}k",
                f"{score:.1f}",
                f"{max(r['normalized_mean'] for r in rows):.1f}",
                f"{sum(r['mean_length'] for r in last) / len(last):.0f}",
                f"{rows[0]['data_normalized_mean']:.1f}",
            ]
        )
    doc.table(
        [
            "task",
            "agent",
            "seed",
            "updates",
            f"score (last {PROBE_POINTS})",
            "best evaluation",
            "episode length",
            "data",
        ],
        body,
    )
    doc.add(
        "Seeds at or above the data's level: "
        + "; ".join(f"{env} {v}: {sum(r)}/{len(r)}" for (env, v), r in sorted(reached.items()))
        + ". Where behaviour cloning reaches it and the agent does not, the miss is the agent's "
        "(its objective or its budget), not the data's or the evaluation's.",
        "",
    )


def _planned(scale: str, task: str, measured: int) -> str:
    """' (5 planned)' while fewer seeds than the scale plans are measured: a verdict so far."""
    planned = len(SCALES[scale].seeds_for(task))
    return f" ({planned} planned)" if measured < planned else ""


def _budget_note(t90: int | None, updates: int | None) -> str:
    """Why a miss may be the budget's: the published curve reaches 90% only later."""
    if t90 and updates and t90 > updates:
        return f" (trained {updates // 1000}k, published t90 {t90 // 1000}k)"
    return ""


LONG_PROBE_FILE = "sanity_probe_long.jsonl"
"""benchmarks/sanity_probe.py run past the bench's budget (resumable, across sittings)."""


def past_budget(doc: Doc) -> None:
    """Is a miss the budget's? The probe's agent trained past the bench's updates, its score
    at the bench's budget beside its score at the end of what has run so far."""
    runs = probe_runs(doc, LONG_PROBE_FILE)
    if runs is None:
        return
    budget = base_config("bench").agent.steps
    body = []
    for (env, seed, variant), rows in sorted(runs.items()):
        rows.sort(key=lambda r: r["updates"])
        within = [r for r in rows if r["updates"] <= budget][-PROBE_POINTS:]
        last = rows[-PROBE_POINTS:]
        body.append(
            [
                env,
                variant,
                str(seed),
                f"{sum(r['normalized_mean'] for r in within) / len(within):.1f}",
                f"{rows[-1]['updates'] // 1000}k",
                f"{sum(r['normalized_mean'] for r in last) / len(last):.1f}",
                " ".join(f"{r['normalized_mean']:.0f}" for r in rows),
                f"{rows[0]['data_normalized_mean']:.1f}",
            ]
        )
    doc.heading("Past the bench's budget", sub=1)
    doc.add(
        "The same probe, trained past the bench's budget (`--updates 300000 --every 10000`, "
        f"`{LONG_PROBE_FILE}`; a rerun of its command resumes it). Scores: the mean of "
        f"{PROBE_POINTS} evaluations, up to the bench's budget and at the last ones so far.",
        "",
    )
    doc.table(
        [
            "task",
            "agent",
            "seed",
            f"score at {budget // 1000}k",
            "trained so far",
            "score at the end",
            "every evaluation",
            "data",
        ],
        body,
    )
