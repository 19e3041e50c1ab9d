"""Stage `report`: gather every stage's numbers into report.json, report.md and PNG plots."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dawm_pipeline import report
from dawm_pipeline.atomic import read_json, read_npz, write_json, write_text
from dawm_pipeline.runs import package_versions
from dawm_pipeline.stage_graph import DEPENDS
from dawm_pipeline.stages import train_agent


def gather(ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    done = {s: ctx.done(s) for s in DEPENDS["report"]}
    gen_stats = read_json(ctx.dir("generate") / "stats.json")
    curves: dict[str, dict[str, list]] = {}
    for algo, seed, condition in train_agent.jobs(cfg):
        curve = train_agent.read_curve(ctx, algo, seed, condition)
        curves.setdefault(algo, {}).setdefault(condition, []).append(curve)
    table = done["evaluate"]["summary"]["table"]
    share = cfg.synthetic_share()
    return {
        "env": cfg.env,
        "run": ctx.run,
        "preset": cfg.preset,
        "threads": cfg.threads,
        "config": cfg.to_dict(),
        "settings": {
            "horizon": cfg.horizon,
            "synthetic_ratio": cfg.synthetic_ratio,
            "sampling_steps": cfg.gen.sampling_steps,
            "guidance": cfg.gen.guidance,
            "agent_steps": cfg.agent.steps,
            "agent_batch": cfg.agent.batch_size,
            "eval_episodes": cfg.agent.eval_episodes,
            "synthetic_share": "uniform over real + synthetic" if share is None else share,
        },
        "dataset": done["data"]["summary"]["dataset"],
        "data": done["data"]["summary"],
        "world_model": done["train-wm"]["summary"],
        "wm_history": read_json(ctx.dir("train-wm") / "history.json"),
        "idm": done["train-idm"]["summary"],
        "generated": {**done["generate"]["summary"], "sim": gen_stats["sim"]},
        "stats": gen_stats["stats"],
        "agents": {
            "table": table,
            "curves": curves,
            "episodes": done["evaluate"]["summary"]["episodes"],
            "score_points": done["evaluate"]["summary"]["score_points"],
        },
        "verdict": report.verdict(table),
        "stage_seconds": {s: done[s]["seconds"] for s in done},
        "total_seconds": float(sum(done[s]["seconds"] for s in done)),
        # Wall time of this command up to the report, when it computed every stage itself.
        "wall_seconds": time.perf_counter() - ctx.started
        if len(ctx.ran) == len(DEPENDS["report"])
        else None,
        "versions": package_versions(),
    }


def run(ctx, out: Path) -> dict[str, Any]:
    r = gather(ctx)
    stats = r["stats"]
    projection = read_npz(ctx.dir("generate") / "projection.npz")
    sim = r["generated"]["sim"]
    r["plots"] = {
        "wm_loss": report.plot_wm_loss(r["wm_history"], out / "wm_loss.png"),
        "idm": report.plot_idm(
            {
                "real + recorded a": r["idm"]["sim_r2_true_action"],
                "real + IDM a": r["idm"]["sim_r2_idm_action"],
                "generated step 0 (real a)": sim["generated_step0"]["delta_r2"],
                "generated + IDM a": sim["generated_idm_steps"]["delta_r2"],
            },
            out / "idm_check.png",
        ),
        "states": report.plot_state_stats(stats["real"], stats["generated"], out / "states.png"),
        "rewards": report.plot_rewards(
            stats["real"]["reward_hist"],
            stats["generated"]["reward_hist"],
            stats["reward_edges"],
            out / "rewards.png",
        ),
        "projection": report.plot_projection(
            projection["real"], projection["generated"], out / "projection.png"
        ),
        "curves": report.plot_curves(r["agents"]["curves"], out / "learning_curves.png"),
    }
    write_json(out / "report.json", r)
    write_text(out / "report.md", report.markdown(r))
    return {
        "verdict": r["verdict"],
        "total_seconds": r["total_seconds"],
        "scores": {
            a: {c: v["mean"] for c, v in t.items()} for a, t in r["agents"]["table"].items()
        },
        "plots": r["plots"],
    }
