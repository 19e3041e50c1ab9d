"""Issue #19's verdict: the main table robot by robot beside the paper's claimed direction, and
what the IDM check measured on every task where DAWM hurt."""

from __future__ import annotations

from dawm_pipeline.experiments.doc.base import ALGO_NAMES, Doc
from dawm_pipeline.experiments.doc.idm_check import at_bound_cell
from dawm_pipeline.experiments.plan import plan
from dawm_pipeline.experiments.summary import Entry, variant

PAPER_DIRECTION = {
    "walker2d": "the paper's largest gains",
    "halfcheetah": "the paper's gains are marginal",
}
"""DAWM arXiv 2509.19538 as issue #19 summarizes it: gains large on walker2d, marginal on
halfcheetah; no per-robot claim for the others."""
NO_CLAIM = "no per-robot claim in the paper"
IDM_FLAG = 15.0  # percent drop of the IDM-labelled steps' simulator R² (the paper's flag)


def direction(doc: Doc) -> None:
    for scale in doc.scales("main"):
        planned = {variant(c) for c in plan("main", scale)}
        entries = {k: e for k, e in doc.entries("main", scale).items() if k in planned}
        if not entries:
            continue
        doc.heading(f"Verdict against the paper's direction (scale `{scale}`)")
        doc.add(
            "The paper sets DAWM's synthetic data against other world models' (DAWM-TD3BC "
            "+9.3% over DWM-TD3BC, DAWM-IQL +9.5% over DD-IQL, on D4RL); this table sets real "
            "+ DAWM against real data alone, on our own datasets, so only the direction per "
            "robot can stand beside it. Per robot: each measured entry's change of the mean "
            "and its verdict.",
            "",
        )
        by_robot: dict[str, list[tuple[str, Entry]]] = {}
        for key, entry in sorted(entries.items()):
            task = key[0]
            by_robot.setdefault(task.split("-")[0], []).append((task, entry))
        for robot, items in by_robot.items():
            parts = [
                f"{task.removeprefix(robot + '-')} {ALGO_NAMES[entry.rows[0]['algo']]} "
                f"{entry.comparison().relative_change:+.1f}% ({_kind(entry)})"
                for task, entry in items
            ]
            doc.add(f"- {robot} ({PAPER_DIRECTION.get(robot, NO_CLAIM)}): "
                    + "; ".join(parts))  # fmt: skip
        doc.add("")
        losses = [(k, e) for k, e in sorted(entries.items()) if e.comparison().kind == "hurt"]
        if not losses:
            doc.add("DAWM hurt on every seed nowhere at this scale.", "")
            continue
        doc.add("Where DAWM hurt on every seed, what the IDM check measured on that task:", "")
        checks = {r["task"]: r for r in doc.of("idm-check") if r["scale"] == scale}
        for key, entry in losses:
            task = key[0]
            label = f"{task} {ALGO_NAMES[entry.rows[0]['algo']]}"
            change = f"{entry.comparison().relative_change:+.1f}%"
            doc.add(f"- {label} ({change}): {idm_summary(checks.get(task))}.")
        doc.add("")


def _kind(entry: Entry) -> str:
    kind = entry.comparison().kind
    return {"hurt": "hurt on every seed", "helped": "helped on every seed"}.get(
        kind, "no consistent difference" if kind == "mixed" else kind
    )


def idm_summary(row: dict | None) -> str:
    """The IDM check's verdict on one task, with the figures that bear on a loss."""
    if row is None:
        return "no IDM check at this scale yet"
    gen, idm = row["generate"], row.get("idm", {})
    if "wm_velocity_r2" in gen:
        drop, flagged = 100 * gen["idm_velocity_relative_drop"], bool(gen["idm_drop_flag"])
        what = (
            f"world model step 0 velocity R² {gen['wm_velocity_r2']:.3f}, action sensitivity "
            f"{gen['wm_action_sensitivity']:.2f}; IDM velocity R² {drop:.1f}% below real"
        )
    else:  # a check from before the velocity metrics: the all-dimension simulator R²
        real, fake = idm["sim_r2_idm_action"], gen["idm_sim_r2_generated"]
        drop = (real - fake) / abs(real) * 100 if real else float("nan")
        flagged = drop > IDM_FLAG
        what = f"IDM-labelled steps' simulator R² {drop:.1f}% below real + IDM"
    verdict = "flagged it" if flagged else f"did not flag it (its flag: a drop over {IDM_FLAG:g}%)"
    bound = at_bound_cell(gen, idm)
    tail = (
        ""
        if bound == "not run"
        else f"; inferred actions at the bound {bound} (IDM on generated / on real / recorded)"
    )
    return f"the IDM check {verdict}: {what}{tail}"
