"""Stage `evaluate`: final normalized scores of every trained agent, aggregated over seeds.

An agent's score is the mean normalized return of its last `agent.score_points` learning-curve
evaluations (one evaluation of one checkpoint is too noisy to rank agents); the evaluation of
the final agent over `final_eval_episodes` fresh episodes (seeds disjoint from the curve's,
EVAL_SEED_OFFSET + ...) is kept beside it as the last-point score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dawm_pipeline.atomic import write_json
from dawm_pipeline.stages import data as data_stage
from dawm_pipeline.stages import train_agent
from dawm_pipeline.tblog import ScalarLog

EVAL_SEED_OFFSET = 100_000


def run(ctx, out: Path) -> dict[str, Any]:
    cfg = ctx.cfg
    info = data_stage.load_info(ctx)
    per_job: dict[str, Any] = {}
    for algo, seed, condition in train_agent.jobs(cfg):
        agent = train_agent.load_agent(ctx, algo, seed, condition)
        result = train_agent.evaluate_agent(
            agent, info, cfg.agent.final_eval_episodes, EVAL_SEED_OFFSET + 1000 * seed
        )
        name = train_agent.job_name(algo, seed, condition)
        curve = [score for _, score in train_agent.read_curve(ctx, algo, seed, condition)]
        last = curve[-cfg.agent.score_points :] or [result.normalized_mean]
        per_job[name] = {
            "algo": algo,
            "seed": seed,
            "condition": condition,
            "normalized_mean": float(np.mean(last)),
            "score_points": len(last),
            "last_point": {
                "returns": result.returns,
                "normalized": result.normalized,
                "normalized_mean": result.normalized_mean,
                "return_mean": result.mean,
            },
        }
    table = aggregate(per_job)
    write_json(out / "scores.json", {"jobs": per_job, "table": table})
    with ScalarLog(ctx, "evaluate") as tb:
        for name, job in per_job.items():
            tb.scalars(f"final_score/{name}", 0, {"normalized_mean": job["normalized_mean"]})
    return {
        "table": table,
        "episodes": cfg.agent.final_eval_episodes,
        "score_points": cfg.agent.score_points,
    }


def aggregate(per_job: dict[str, Any]) -> dict[str, Any]:
    """Per algo and condition: mean +- std over seeds of each seed's mean normalized score."""
    table: dict[str, Any] = {}
    for job in per_job.values():
        entry = table.setdefault(job["algo"], {}).setdefault(job["condition"], {"seeds": []})
        entry["seeds"].append(job["normalized_mean"])
    for conditions in table.values():
        for entry in conditions.values():
            scores = np.asarray(entry["seeds"], float)
            entry["mean"] = float(scores.mean())
            entry["std"] = float(scores.std())
            entry["n"] = len(scores)
    return table
