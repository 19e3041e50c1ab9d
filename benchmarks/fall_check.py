"""The world model's step-0 fall check on every task of a results file (JSON lines).

`stages/generate.py`'s `step_zero_falls` asks, for the rollouts that start on a row whose
real next state ended its episode, whether the world model's first step (real a_t) ends it
too; generate stages record it since 2026-11-28. This reads, per task, the generate stage of
the newest main-table row at a scale and prints its fall check, computing it for stages that
ran before the field (docs/synthetic_diagnosis.md, "Falls the world model misses"). Tasks whose
data never terminate (halfcheetah, Pusher) give only `fall_starts: 0`.

    .venv/bin/python benchmarks/fall_check.py --results docs/results/results.jsonl \
        --out /root/dawm_runs/experiments --json docs/results/fall_check_bench.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dawm_pipeline.atomic import read_json
from dawm_pipeline.experiments.plan import TASKS, Cell, cell_config
from dawm_pipeline.experiments.results import ResultStore
from dawm_pipeline.experiments.summary import is_current
from dawm_pipeline.stage_graph import Context
from synthetic_diagnosis import stage_falls


def fall_check(row: dict, out: Path) -> dict:
    """The fall check of the generate stage `row` was measured with (its recorded folder)."""
    cell = Cell("main", row["task"], row["algo"], row["seed"], row["horizon"],
                row["synthetic_ratio"])  # fmt: skip
    ctx = Context(cell_config(cell, row["scale"], out=str(out)), out / row["task"] / "fall-check")
    stage = ctx.dir("generate")
    recorded = Path(row["stage_dirs"]["generate"])
    if stage.name != recorded.name or not (stage / "done.json").is_file():
        return {"task": row["task"], "missing": f"generate stage {recorded.name} not under {out}"}
    summary = read_json(stage / "done.json")["summary"]
    falls = stage_falls(ctx, summary)
    keys = ("wm_velocity_r2", "wm_action_sensitivity")
    return {"task": row["task"], "stage": stage.name, **falls,
            **{k: summary[k] for k in keys if k in summary}}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, required=True, help="the results file")
    ap.add_argument("--out", type=Path, required=True, help="the sweeps' --out root")
    ap.add_argument("--scale", default="bench")
    ap.add_argument("--json", type=Path, help="also write the lines here")
    args = ap.parse_args()
    rows = [
        r for r in ResultStore(args.results).rows()
        if r["experiment"] == "main" and r["scale"] == args.scale and r.get("algo")
        and is_current(r) and str(r.get("device", "cpu")) == "cpu"
    ]  # fmt: skip
    lines = []
    for task in TASKS:
        mine = [r for r in rows if r["task"] == task]
        if mine:
            lines.append(fall_check(mine[-1], args.out))
            print(json.dumps(lines[-1]), flush=True)
    if args.json:
        args.json.write_text("".join(json.dumps(line) + "\n" for line in lines))


if __name__ == "__main__":
    main()
