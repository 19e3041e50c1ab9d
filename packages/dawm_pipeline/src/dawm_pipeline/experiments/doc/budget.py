"""Were the main table's agents still learning when the budget ended? (issue #19, item 1)

A scale's score is the mean of the last `agent.score_points` evaluations (5 at the bench
scale). Beside it, this section puts the mean of as many evaluations just before them, per
condition. A clear rise on every seed
suggests the budget stopped agents that were still improving; a clear fall on every seed,
agents that were declining, which more updates alone would not cure. Either way the table's
comparison may depend on where the budget ends. The windows come from each row's own learning
curve, so nothing is re-run.
"""

from __future__ import annotations

import numpy as np

from dawm_pipeline.experiments.doc.base import ALGO_NAMES, Doc
from dawm_pipeline.experiments.plan import ALGOS, TASKS, base_config
from dawm_pipeline.experiments.summary import Entry


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


def budget(doc: Doc) -> None:
    """The section: one row per main-table entry whose curves hold both windows."""
    if not doc.headline:
        return
    order = {(t, a): i for i, (t, a) in enumerate((t, a) for t in TASKS for a in ALGOS)}
    for scale in doc.scales("main"):
        body = []
        size = base_config(scale).agent.score_points  # the score's evaluations
        entries = sorted(doc.main_entries(scale).items(), key=lambda kv: order[kv[0][:2]])
        for (task, algo, *_), entry in entries:
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
