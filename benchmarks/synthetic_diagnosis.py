"""Which part of DAWM's synthetic data makes walker2d-medium-replay agents collapse (or, with
--task, costs another task's agents their score): the learning curves of development seeds
under each variant, read from a stage store, printed as JSON lines and drawn side by side
(docs/synthetic_diagnosis.md).

Each variant is a bench-preset pipeline run on seed 100 (outside the bench's evaluation seeds
0-4) with 30k agent updates and the options below; run the missing ones first, e.g.

    python -m dawm_pipeline --env walker2d-medium-replay --preset bench --algo td3bc \
        --seeds 100 --agent.steps 30000 --agent.synthetic-steps first \
        --out /root/dawm_runs/experiments

(the dim-128 variants leave --algo out: one run trains both agents), then read and draw them:

    .venv/bin/python benchmarks/synthetic_diagnosis.py --out /root/dawm_runs/experiments \
        --json docs/results/synthetic_diagnosis.jsonl --plot docs/results/synthetic_diagnosis.png

With --task, the same variants on another dataset (their runs with that --env), e.g. the
halfcheetah-medium rows, run in the bench queue's stage store so that they reuse its stages:

    .venv/bin/python benchmarks/synthetic_diagnosis.py --out /root/dawm_runs/bench/runs \
        --task halfcheetah-medium --json docs/results/synthetic_diagnosis_halfcheetah_medium.jsonl \
        --plot docs/results/synthetic_diagnosis_halfcheetah_medium.png
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from dawm_pipeline.atomic import read_json, read_npz, save_figure
from dawm_pipeline.config import preset
from dawm_pipeline.experiments.plan import TASKS
from dawm_pipeline.stage_graph import Context
from dawm_pipeline.stages import data as data_stage
from dawm_pipeline.stages import generate
from dawm_pipeline.stages.train_agent import agent_class, job_name, read_curve

TASK, SEED, STEPS, SCORE_POINTS = "walker2d-medium-replay", 100, 30_000, 5
POLICY_STATES = 5_000  # real states on which the agents' actions are set beside the recorded
SEEDS = (100, 101)  # development seeds; a variant is read for each one that was run
COLLAPSED = 5.0  # normalized; a walker that falls within ~10 steps scores about 0
AT_BOUND_KEYS = ("idm_at_bound_generated", "real_at_bound", "dropped_at_bound")
FIDELITY_KEYS = ("wm_velocity_r2", "wm_action_sensitivity", "wm_reward_change_r2")
FALL_KEYS = ("fall_starts", "fall_recall_step0", "false_fall_step0", "steps_after_missed_fall",
             "real_fall_recall", "real_false_fall")  # fmt: skip
VARIANTS: dict[str, tuple[str, dict[str, dict]]] = {
    "DAWM (default)": ("td3bc", {}),
    "R_tg from the data": ("td3bc", {"gen": {"rtg_source": "data"}}),
    "synthetic share 0.5": ("td3bc", {"agent": {"synthetic_fraction": 0.5}}),
    "inferred a at the bound dropped": ("td3bc", {"gen": {"drop_at_bound": True}}),
    "IDM trained with next-state noise 0.14": ("td3bc", {"idm": {"next_state_noise": 0.14}}),
    "step 0 only (real a_t, no IDM)": ("td3bc", {"agent": {"synthetic_steps": "first"}}),
    "IDM-labelled steps only": ("td3bc", {"agent": {"synthetic_steps": "inferred"}}),
    "simulator's r, s' and terminal for every synthetic (s, a)": (
        "td3bc",
        {"agent": {"synthetic_dynamics": "simulator"}},
    ),
    "the same, rows at the velocity clip left out": (
        "td3bc",
        {"agent": {"synthetic_dynamics": "simulator-replayable"}},
    ),
    "IQL, DAWM (default)": ("iql", {}),
    # one run trains both agents (the bench preset's algo "both": no --algo option)
    "world model dim 128": ("td3bc", {"run": {"algo": "both"}, "wm": {"dim": 128}}),
    "IQL, world model dim 128": ("iql", {"run": {"algo": "both"}, "wm": {"dim": 128}}),
    "world model trained past falls": ("td3bc", {"wm": {"past_terminal": "absorb"}}),
}
"""label -> (algorithm read, overrides of the bench preset's sections; "run": its own fields)."""


def variant_config(
    algo: str,
    overrides: dict[str, dict],
    out: Path,
    seed: int = SEED,
    steps: int | None = STEPS,
    task: str = TASK,
):
    """The bench preset on `task` with `overrides`; `steps` None keeps the bench's updates."""
    cfg = dataclasses.replace(
        preset("bench"), env=task, algo=algo, seeds=(seed,), out=str(out), threads=1
    )
    if steps is not None:
        cfg.agent = dataclasses.replace(cfg.agent, steps=steps)
    for section, values in overrides.items():
        if section == "run":
            cfg = dataclasses.replace(cfg, **values)
        else:
            setattr(cfg, section, dataclasses.replace(getattr(cfg, section), **values))
    cfg.validate()
    return cfg


def read_variant(
    label: str, out: Path, seed: int = SEED, task: str = TASK, updates: int = STEPS
) -> dict | None:
    """The variant's real-only and real + DAWM curves and scores, None if not run yet."""
    algo, overrides = VARIANTS[label]
    cfg = variant_config(algo, overrides, out, seed=seed, steps=updates, task=task)
    ctx = Context(cfg, Path(out) / task / "diagnosis")
    if not (ctx.dir("train-agent") / job_name(algo, seed, "dawm") / "result.json").is_file():
        return None
    curves = {cond: read_curve(ctx, algo, seed, cond) for cond in ("real", "dawm")}
    scores = {
        cond: sum(v for _, v in c[-SCORE_POINTS:]) / len(c[-SCORE_POINTS:])
        for cond, c in curves.items()
    }
    collapsed = {cond: sum(v < COLLAPSED for _, v in c) for cond, c in curves.items()}
    summary = read_json(ctx.dir("generate") / "done.json")["summary"]
    bounds = {k: summary[k] for k in AT_BOUND_KEYS if k in summary}  # stages since at_bound
    fidelity = {k: summary[k] for k in FIDELITY_KEYS if k in summary}  # the world model's step 0
    falls = stage_falls(ctx, summary)
    return {"task": task, "variant": label, "algo": algo, "overrides": overrides, "seed": seed,
            "updates": updates, "scores": scores, "collapsed_evaluations": collapsed,
            "generate_at_bound": bounds, "world_model_step0": fidelity, "falls": falls,
            "policy_vs_recorded": policy_vs_recorded(ctx, algo, seed),
            "evaluations": len(curves["dawm"]), "curves": curves,
            "stage": str(ctx.dir("train-agent"))}  # fmt: skip


def policy_vs_recorded(ctx: Context, algo: str, seed: int) -> dict[str, float]:
    """Mean squared distance between each agent's action and the recorded one, on
    POLICY_STATES real states drawn once (rng 0): how far its data pulled the policy from the
    behaviour's actions where both are known."""
    data, _ = data_stage.load(ctx)
    rows = np.random.default_rng(0).choice(len(data.observations), POLICY_STATES, replace=False)
    recorded = data.actions[rows]
    out = {}
    for cond in ("real", "dawm"):
        agent = agent_class(algo).load(
            ctx.dir("train-agent") / job_name(algo, seed, cond) / "agent"
        )
        acts = agent.act(data.observations[rows])  # one batched forward
        out[cond] = round(float(((acts - recorded) ** 2).mean()), 5)
    return out


def stage_falls(ctx: Context, summary: dict) -> dict:
    """The generate stage's step-0 fall check (generate.step_zero_falls): from its summary
    `summary`, or computed from its files for a stage that ran before the summary recorded it
    (a stage without synthetic rows has none)."""
    if "fall_starts" in summary or not summary.get("transitions"):
        return {k: summary[k] for k in FALL_KEYS if k in summary}
    data, _ = data_stage.load(ctx)
    synthetic = read_npz(ctx.dir("generate") / generate.SYNTHETIC)
    starts = generate.rollout_starts(ctx.cfg, len(data))
    return generate.step_zero_falls(ctx.cfg.task.robot, data, starts, synthetic)


def plot(rows: list[dict], path: Path) -> None:
    """One panel per variant: its seeds' curves (the first seed solid, later ones dotted)."""
    labels = list(dict.fromkeys(r["variant"] for r in rows))
    cols = -(-len(labels) // 2)
    fig, axes = plt.subplots(
        2, cols, figsize=(4 * cols, 6.5), sharex=True, sharey=True, squeeze=False
    )  # a 2-D grid even for one column (two variants)
    for ax, label in zip(axes.flat, labels, strict=False):
        titles = []
        for row in (r for r in rows if r["variant"] == label):
            dotted = row["seed"] != SEED
            for cond, color in (("real", "k"), ("dawm", "C3")):
                steps, values = zip(*row["curves"][cond], strict=True)
                ax.plot([s / 1000 for s in steps], values, color=color, lw=1 if dotted else 1.6,
                        ls=":" if dotted else ("--" if cond == "real" else "-"),
                        label=f"{cond}, seed {row['seed']}")  # fmt: skip
            down = row["collapsed_evaluations"]
            titles.append(f"seed {row['seed']}: real {row['scores']['real']:.1f}, "
                          f"+DAWM {row['scores']['dawm']:.1f} ({down['dawm']} < {COLLAPSED:g})")  # fmt: skip
        ax.set_title(label + "\n" + "\n".join(titles), fontsize=8)
        ax.axhline(0, color="0.8", lw=0.5)
    for ax in axes.flat[len(labels) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("updates (k)")
    for ax in axes[:, 0]:
        ax.set_ylabel("normalized return")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{rows[0]['task']}, development seeds, {rows[0]['updates']:,} updates: "
                 "real only vs real + DAWM per variant")  # fmt: skip
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="the runs' --out root")
    ap.add_argument("--task", default=TASK, choices=TASKS, help=f"the dataset (default {TASK})")
    ap.add_argument("--json", type=Path, help="write the rows here as JSON lines")
    ap.add_argument("--plot", type=Path, help="draw the curves here (PNG)")
    ap.add_argument(
        "--updates", type=int, default=STEPS, help=f"the runs' --agent.steps (default {STEPS:,})"
    )
    args = ap.parse_args()
    rows = []
    for label in VARIANTS:
        runs = (read_variant(label, args.out, s, args.task, args.updates) for s in SEEDS)
        found = [r for r in runs if r is not None]
        if not found:
            print(json.dumps({"task": args.task, "variant": label, "missing": "not run yet"}))
        rows += found
    for row in rows:
        keys = ("variant", "seed", "algo", "scores", "collapsed_evaluations", "policy_vs_recorded")
        print(json.dumps({k: row[k] for k in keys}))
    if args.json:
        args.json.write_text("".join(json.dumps(r) + "\n" for r in rows))
    if args.plot and rows:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
