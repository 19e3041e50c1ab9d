"""Does the table's comparison depend on where the budget ends? (issue #19, item 1)

A scale's score is the mean of the last `agent.score_points` evaluations (5 at the bench
scale). Beside it, `budget` puts the mean of as many evaluations just before them, per
condition. A clear rise on every seed
suggests the budget stopped agents that were still improving; a clear fall on every seed,
agents that were declining, which more updates alone would not cure. `early` compares the two
conditions over the first as many evaluations, by the table's own rule: whether synthetic data
speeds early learning, which a final score alone does not show (and which made DAWM look better
at the cpu scale's 4,000 updates). The windows come from each row's own learning curve, so
nothing is re-run.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from dawm_pipeline.experiments.doc.base import ALGO_NAMES, Doc
from dawm_pipeline.experiments.plan import ALGOS, TASKS, base_config
from dawm_pipeline.experiments.summary import Entry
from dawm_pipeline.verdict import WORDS, Comparison


def windows(curve: list[list[float]], size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The (step, score) points of the `size` evaluations before the last `size`, and of the
    last `size` (the score's); None for a curve too short for both."""
    if len(curve) < 2 * size:
        return None
    points = np.asarray(curve, float)
    return points[-2 * size : -size], points[-size:]


def trend(entry: Entry, condition: str, size: int) -> tuple[str, str] | None:
    """('before → last (Δ)', 'seeds up / down') of one condition over the entry's seeds, or
    None when no seed has a curve long enough."""
    pairs = [windows(r.get("curves", {}).get(condition) or [], size) for r in entry.rows]
    pairs = [p for p in pairs if p is not None]
    if not pairs:
        return None
    before = np.asarray([b[:, 1].mean() for b, _ in pairs])
    last = np.asarray([a[:, 1].mean() for _, a in pairs])
    rising, falling = int((last > before).sum()), int((last < before).sum())
    change = f"{before.mean():.1f} → {last.mean():.1f} ({last.mean() - before.mean():+.1f})"
    return change, f"{rising} up / {falling} down of {len(pairs)}"


def span(entry: Entry, size: int) -> str:
    """The windows' steps, e.g. '55k-75k → 80k-100k', from the first real-only curve long
    enough for both."""
    for row in entry.rows:
        pair = windows(row.get("curves", {}).get("real") or [], size)
        if pair is not None:
            (b0, b1), (a0, a1) = ((w[0, 0], w[-1, 0]) for w in pair)
            return f"{b0 / 1000:.0f}k-{b1 / 1000:.0f}k → {a0 / 1000:.0f}k-{a1 / 1000:.0f}k"
    return ""


def _entries(doc: Doc, scale: str) -> list[tuple[tuple, Entry]]:
    """The scale's main-table entries in the table's order."""
    order = {(t, a): i for i, (t, a) in enumerate((t, a) for t in TASKS for a in ALGOS)}
    return sorted(doc.main_entries(scale).items(), key=lambda kv: order[kv[0][:2]])


def budget(doc: Doc) -> None:
    """The section: one row per main-table entry whose curves hold both windows."""
    if not doc.headline:
        return
    for scale in doc.scales("main"):
        body = []
        size = base_config(scale).agent.score_points  # the score's evaluations
        for (task, algo, *_), entry in _entries(doc, scale):
            real, dawm = trend(entry, "real", size), trend(entry, "dawm", size)
            if real is None or dawm is None:
                continue
            body.append([task, ALGO_NAMES[algo], span(entry, size), *real, *dawm, str(entry.n)])
        if not body:
            continue
        doc.heading(f"Still learning at the end of the {scale} budget?", sub=1)
        doc.add(
            f"Per main-table entry and condition: the mean of the {size} evaluations before "
            f"the last {size} against the mean of the last {size} (the table's score), "
            "over seeds, and on how many seeds the score rose or fell between the two "
            "windows. A clear rise on every seed is consistent with a budget that cut "
            "learning short, a clear fall on every seed with agents declining at the end; "
            "read the size of the change (Δ) beside the count.",
            "",
        )
        doc.table(
            [
                "task",
                "agent",
                "windows",
                "real: before → last (Δ)",
                "real: seeds",
                "real + DAWM: before → last (Δ)",
                "real + DAWM: seeds",
                "n",
            ],
            body,
        )


EARLY_WORDS = WORDS | {"helped": "ahead on every seed", "hurt": "behind on every seed"}


def first_window(entry: Entry, size: int) -> tuple[Comparison, Comparison, str] | None:
    """Both conditions' mean over their first `size` evaluations and their final scores, each
    paired by seed over the seeds whose curves hold at least 2·`size` points (so the first
    window never overlaps the score's last one), and the window's steps (e.g. '5k-25k'); None
    when no seed's curves are that long."""
    first, final, steps = [], [], ""
    for row in entry.rows:
        curves = row.get("curves", {})
        r, d = (np.asarray(curves.get(c) or [], float) for c in ("real", "dawm"))
        if min(len(r), len(d)) < 2 * size:
            continue
        first.append((r[:size, 1].mean(), d[:size, 1].mean()))
        final.append((row["scores"]["real"], row["scores"]["dawm"]))
        steps = steps or f"{r[0, 0] / 1000:.0f}k-{r[size - 1, 0] / 1000:.0f}k"
    if not first:
        return None
    return Comparison(*zip(*first, strict=True)), Comparison(*zip(*final, strict=True)), steps


def early(doc: Doc) -> None:
    """The section: each main-table entry's first evaluations beside its final score."""
    if not doc.headline:
        return
    for scale in doc.scales("main"):
        body, counts = [], {"early": Counter(), "final": Counter()}
        size = base_config(scale).agent.score_points
        for (task, algo, *_), entry in _entries(doc, scale):
            window = first_window(entry, size)
            if window is None:
                continue
            first, final, steps = window
            counts["early"][first.kind] += 1
            counts["final"][final.kind] += 1
            body.append(
                [
                    task,
                    ALGO_NAMES[algo],
                    steps,
                    f"{first.real.mean():.1f}",
                    f"{first.dawm.mean():.1f}",
                    first.change(),
                    EARLY_WORDS[first.kind],
                    final.change(),
                    str(first.n),
                ]
            )
        if not body:
            continue
        doc.heading(f"Early in training: the first {size} evaluations ({scale})", sub=1)
        doc.add(
            f"Per main-table entry: the mean of each condition's first {size} evaluations, "
            "paired by seed and judged by the table's rule (real + DAWM ahead or behind on "
            "every seed), beside the final change over the same seeds (those whose curves "
            f"hold at least {2 * size} evaluations, so the windows never overlap). A secondary "
            "view, not the table's score: it says whether synthetic data speeds early "
            "learning, which the final score does not show.",
            "",
        )
        doc.table(
            [
                "task",
                "agent",
                "window",
                "real",
                "real + DAWM",
                "Δ (seeds DAWM ahead)",
                "early",
                "final Δ (table)",
                "n",
            ],
            body,
        )
        for when, label in (("early", "early"), ("final", "at the end (the table's score)")):
            c = counts[when]
            doc.add(
                f"- {label}: real + DAWM ahead on every seed in {c['helped']} of "
                f"{len(body)} entries, behind on every seed in {c['hurt']}, no "
                f"consistent difference in {c['mixed']}"
                + (f", one seed in {c['one seed']}" if c["one seed"] else "")
                + "."
            )
        doc.add("")
