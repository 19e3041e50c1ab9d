"""Reuse of finished real-only agent jobs across train-agent stages.

A real-only job never reads the synthetic data and is seeded, so it comes out the same in
every train-agent stage of the same data and agent settings; only the stage's hash differs,
because the stage also holds the real + DAWM jobs of one generate stage. Ablations (horizon,
synthetic volume, R_tg, which synthetic steps) would otherwise train the same real-only agents
again for every variant. A job is copied only from a finished stage, after its files are
checked against that stage's recorded checksums.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from dawm_pipeline.atomic import read_json, write_json
from dawm_pipeline.runs import DONE, first_bad_output
from dawm_pipeline.stage_graph import stage_inputs

# Agent settings that only the real + DAWM jobs read.
SYNTHETIC_ONLY = ("synthetic_fraction", "synthetic_steps")
RESULT = "result.json"


def real_job_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """What a real-only job's outcome depends on, from a train-agent stage's inputs."""
    agent = {k: v for k, v in inputs["settings"]["agent"].items() if k not in SYNTHETIC_ONLY}
    return {"data": inputs["upstream"]["data"], "agent": agent}


def _source(out: Path, name: str, want: dict[str, Any]) -> Path | None:
    """A finished sibling stage's intact copy of job `name` with the same inputs, if any."""
    for other in sorted(out.parent.glob("train-agent-*")):
        job = other / name
        if other == out or not (job / RESULT).is_file() or not (other / DONE).is_file():
            continue
        try:
            theirs = real_job_inputs(read_json(other / "inputs.json")["inputs"])
            outputs = read_json(other / DONE)["outputs"]
        except (OSError, ValueError, KeyError):
            continue
        mine = {k: v for k, v in outputs.items() if k.startswith(f"{name}/")}
        if theirs == want and mine and first_bad_output(other, mine) is None:
            return job
    return None


def reuse_real_job(ctx, out: Path, name: str) -> bool:
    """Copy the finished real-only job `name` into this stage (`out`) from a sibling stage
    with the same data and agent settings; False when there is none. The copy is made under a
    temporary name and renamed, and its result.json names where it came from."""
    source = _source(out, name, real_job_inputs(stage_inputs(ctx.cfg, "train-agent")))
    if source is None:
        return False
    target, staging = out / name, out / f".{name}.copying"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns("checkpoint"))
    write_json(staging / RESULT, {**read_json(source / RESULT), "reused_from": str(source)})
    shutil.rmtree(target, ignore_errors=True)  # an interrupted run's partial job
    staging.rename(target)
    print(f"[dawm] train-agent: {name} reused from {source.parent.name}", flush=True)
    return True
