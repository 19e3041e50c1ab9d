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
from dawm_pipeline.runs import DONE, config_hash, first_bad_output
from dawm_pipeline.stage_graph import stage_inputs

# Agent settings that only the real + DAWM jobs read.
SYNTHETIC_ONLY = ("synthetic_fraction", "synthetic_steps", "synthetic_dynamics")
RESULT = "result.json"
STAGING = ".copying"


def real_job_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """What a real-only job's outcome depends on, from a train-agent stage's inputs."""
    agent = {k: v for k, v in inputs["settings"]["agent"].items() if k not in SYNTHETIC_ONLY}
    return {"data": inputs["upstream"]["data"], "agent": agent}


def _source(out: Path, name: str, want: dict[str, Any]) -> tuple[Path, dict] | None:
    """A finished sibling stage holding an intact job `name` with the same inputs: (that
    stage, its done record), or None."""
    for other in sorted(out.parent.glob("train-agent-*")):
        if other == out or not (other / name / RESULT).is_file() or not (other / DONE).is_file():
            continue
        try:
            theirs = real_job_inputs(read_json(other / "inputs.json")["inputs"])
            done = read_json(other / DONE)
        except (OSError, ValueError, KeyError):
            continue
        files = job_files(done, name)
        if (
            config_hash(theirs) == config_hash(want)
            and files
            and first_bad_output(other, files) is None
        ):
            return other, done
    return None


def job_files(done: dict[str, Any], name: str) -> dict[str, str]:
    """The recorded checksums of job `name`'s files in a stage's done record."""
    return {k: v for k, v in done.get("outputs", {}).items() if k.startswith(f"{name}/")}


def reused_from(job: Path) -> str | None:
    """The job folder that finished job `job` was copied from; None when it trained here."""
    try:
        return read_json(job / RESULT).get("reused_from")
    except (OSError, ValueError):
        return None


def clear_staging(out: Path) -> None:
    """Remove copies an interrupted reuse left behind (they are not the stage's outputs)."""
    for staging in out.glob(f".*{STAGING}"):
        shutil.rmtree(staging, ignore_errors=True)


def reuse_real_job(ctx, out: Path, name: str) -> bool:
    """Copy the finished real-only job `name` into this stage (`out`) from a sibling stage
    with the same data and agent settings; False when there is none. Only the job's recorded
    files are copied, under a temporary name; the copy is checked against the recorded
    checksums before it is renamed into place, and its result.json names the source."""
    found = _source(out, name, real_job_inputs(stage_inputs(ctx.cfg, "train-agent")))
    if found is None:
        return False
    stage, done = found
    # The job's files by path inside the job folder, with their recorded checksums.
    files = {str(Path(k).relative_to(name)): v for k, v in job_files(done, name).items()}
    staging = out / f".{name}{STAGING}"
    shutil.rmtree(staging, ignore_errors=True)
    for rel in files:
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(stage / name / rel, staging / rel)
    if first_bad_output(staging, files) is not None:  # the source changed while being copied
        shutil.rmtree(staging, ignore_errors=True)
        return False
    result = read_json(staging / RESULT)
    source = {"reused_from": str(stage / name), "source_finished": done.get("finished")}
    write_json(staging / RESULT, {**result, **source})
    shutil.rmtree(out / name, ignore_errors=True)  # an interrupted run's partial job
    staging.rename(out / name)
    print(f"[dawm] train-agent: {name} reused from {stage.name}", flush=True)
    return True
