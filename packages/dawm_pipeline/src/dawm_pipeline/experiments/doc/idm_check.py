"""IDM and simulator consistency table."""

from __future__ import annotations

from pathlib import Path

from dawm_pipeline.experiments.doc.base import Doc
from dawm_pipeline.experiments.plan import TASKS
from dawm_pipeline.stages.generate import IDM_DROP_FLAG

FLAG_PERCENT = 100 * IDM_DROP_FLAG  # the IDM-labelled steps' drop that raises the flag


def with_later_checks(doc: Doc, row: dict) -> dict:
    """An idm-check row with the checks it predates filled in from later rows of the same
    generate stage (a cell that reran the stage, e.g. on a new machine, records the checks
    added since); what the row itself measured is kept."""
    stage = generate_stage(row)
    if not stage:
        return row
    filled = {"generate": dict(row["generate"]), "idm": dict(row.get("idm", {}))}
    for later in doc.all_rows:
        if (later["task"], later["scale"], generate_stage(later)) != (
            row["task"], row["scale"], stage
        ):  # fmt: skip
            continue
        for part, values in filled.items():
            for key, value in (later.get(part) or {}).items():
                values.setdefault(key, value)
    return row | filled


def idm_check_rows(doc: Doc, scale: str) -> dict[str, dict]:
    """Each task's IDM-check row at `scale`, its missing checks filled from later rows."""
    return {
        r["task"]: with_later_checks(doc, r) for r in doc.of("idm-check") if r["scale"] == scale
    }


def generate_stage(row: dict) -> str:
    """The name of a row's generate stage folder (its hash: the same on every machine)."""
    return Path(row.get("stage_dirs", {}).get("generate", "")).name


def sim_r2_drop(row: dict) -> tuple[float, float, float]:
    """(simulator R² of real + IDM, of generated + IDM, percent drop) of one IDM-check row:
    the all-dimension check every row has, from before the velocity-based one."""
    real, fake = row["idm"]["sim_r2_idm_action"], row["generate"]["idm_sim_r2_generated"]
    return real, fake, (real - fake) / abs(real) * 100 if real else float("nan")


def idm_check(doc: Doc) -> None:
    scales = doc.scales("idm-check")
    if not scales:
        return
    doc.heading("IDM check: held-out real vs generated transitions")
    doc.add(
        "IDM action R² on held-out real episodes; generated transitions have no true "
        "action, so the simulator judges them: MuJoCo is set to the state, stepped with "
        "the action, and R² of s′ − s against the transition's next state is reported "
        "(pipeline `simcheck`). Flag: generated IDM steps more than 15% below real + IDM.",
        "",
    )
    header = [
        "task",
        "IDM action R² (held-out real)",
        "sim R² real + true a",
        "real + IDM a",
        "generated step 0 + real a",
        "generated + IDM a",
        "drop",
        "flag",
    ]
    for scale in scales:
        rows = idm_check_rows(doc, scale)
        body = []
        for task in TASKS:
            row = rows.get(task)
            if row is None:
                body.append([task, doc.reason(task)] + [""] * 6)
                continue
            idm, gen = row["idm"], row["generate"]
            real, fake, drop = sim_r2_drop(row)
            doc.notes.append(
                f"idm-check ({scale}) {task}: IDM held-out action R² "
                f"{idm['heldout_action_r2']:.3f}; simulator R² real + IDM {real:.3f} vs "
                f"generated {fake:.3f} ({drop:+.1f}% drop"
                + (", flagged)" if drop > FLAG_PERCENT else f", within {FLAG_PERCENT:g}%)")
            )
            body.append(
                [
                    task,
                    f"{idm['heldout_action_r2']:.3f}",
                    f"{idm['sim_r2_true_action']:.3f}",
                    f"{real:.3f}",
                    f"{gen['wm_sim_r2_step0']:.3f}",
                    f"{fake:.3f}",
                    f"{drop:.1f}%",
                    f"> {FLAG_PERCENT:g}% drop" if drop > FLAG_PERCENT else "ok",  # all-dim R²
                ]
            )
        doc.add(f"Scale `{scale}`.", "")
        doc.table(header, body)
        fidelity_table(doc, rows)
        doc.command("idm-check", scale)


FIDELITY_HEADER = [
    "task",
    "WM step 0: velocity R² (random a)",
    "action sensitivity",
    "reward R² (random a)",
    "reward change R²",
    "IDM velocity R²: real",
    "generated",
    "drop",
    "flag",
    "a at the bound: IDM on generated / IDM on real / recorded",
]


def at_bound_cell(gen: dict, idm: dict) -> str:
    """How often the IDM's inferred actions sit at the action bound on generated states, beside
    the same IDM on real held-out windows and the recorded actions of those windows ("—", and
    the whole data's recorded rate: a stage from before that check)."""
    if "idm_at_bound_generated" not in gen:
        return "not run"
    on_real = idm.get("idm_at_bound_real")
    real = "—" if on_real is None else f"{100 * on_real:.1f}%"
    recorded = idm.get("recorded_at_bound_heldout", gen["real_at_bound"])  # the IDM's rows
    return f"{100 * gen['idm_at_bound_generated']:.1f}% / {real} / {100 * recorded:.1f}%"


def fidelity_table(doc: Doc, rows: dict) -> None:
    """The velocity-based checks (fidelity.py, simcheck.py) of the rows that have them."""
    body = []
    for task in TASKS:
        gen = rows[task]["generate"] if task in rows else {}
        if "wm_velocity_r2" not in gen:
            reason = "not rerun since these checks" if task in rows else doc.reason(task)
            body.append([task, reason] + [""] * 8)
            continue
        drop = 100 * gen["idm_velocity_relative_drop"]
        body.append(
            [
                task,
                f"{gen['wm_velocity_r2']:.3f} ({gen['wm_velocity_r2_random_action']:.3f})",
                f"{gen['wm_action_sensitivity']:.2f}",
                f"{gen['wm_reward_r2']:.3f} ({gen['wm_reward_r2_random_action']:.3f})",
                f"{gen['wm_reward_change_r2']:.3f}" if "wm_reward_change_r2" in gen else "not run",
                f"{gen['idm_velocity_r2_real']:.3f}",
                f"{gen['idm_velocity_r2_generated']:.3f}",
                f"{drop:.1f}%",
                f"> {FLAG_PERCENT:g}% drop" if gen["idm_drop_flag"] else "ok",
                at_bound_cell(gen, rows[task].get("idm", {})),
            ]
        )
    doc.add(
        "Velocity-based checks: the world model's first step with the real a_t against one "
        "simulator step (R² of the velocity change, clipped rows left out; action "
        "sensitivity = model / simulator movement when a_t is swapped for another row's, "
        "target 0.8–1.2; reward R²), each beside a random action's score; the R² of the "
        "reward's change when a_t is swapped (a model that ignores a_t scores ≤ 0); the IDM's "
        "velocity R² on real vs generated states (flag: a drop of more than 15%). The last "
        "column says how "
        "often an inferred action sits at the action bound in some dimension: on generated "
        "states, then the same IDM on real held-out transitions (the like-for-like yardstick: "
        "the IDM's mean is clipped to the box, so it sits at the bound more often than the "
        "recorded actions even on real data), then the recorded actions.",
        "",
    )
    doc.table(FIDELITY_HEADER, body)
