"""`python -m dawm_pipeline [STAGE] [OPTIONS]`: the whole DAWM run, or one stage of it.

The preset is read first (`--preset quick|bench|paper|tiny`, default quick) and supplies the defaults
every other option overrides, so `--help` shows the chosen preset's values. Errors in the
input are one line on stderr and exit status 2.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import time
from collections.abc import Sequence

import tyro

from dawm_pipeline import distributed
from dawm_pipeline.config import PipelineConfig, preset
from dawm_pipeline.pipeline import run, show_package_log
from dawm_pipeline.stage_graph import STAGES

USAGE = f"""DAWM end to end on one D4RL-style task.

  python -m dawm_pipeline --env hopper-medium-replay        all stages
  python -m dawm_pipeline STAGE [STAGE ...] --env ...         some stages, in pipeline order
                                                              ({", ".join(STAGES)})

Artifacts: <out>/<env>/<run>/<stage>/; finished stages are skipped, interrupted ones resume.

  torchrun --nproc_per_node N -m dawm_pipeline data train-wm --env ...
                                                              the world model on N processes
                                                              (DDP; docs/scaling.md)"""


def _preset_name(args: Sequence[str]) -> str:
    for i, arg in enumerate(args):
        if arg == "--preset" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--preset="):
            return arg.split("=", 1)[1]
    return "quick"


def _tyro_error(text: str) -> str:
    """The message of tyro's boxed error output, on one line."""
    lines = [re.sub(r"^[\s│╭╮╰╯─]+|[\s│╭╮╰╯─]+$", "", line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    body: list[str] = []
    for line in lines[1:]:
        if line.startswith(("Argument helptext", "For full helptext")):
            break
        body.append(line)
    title = lines[0] if lines else "invalid arguments"
    return f"{title}: {' '.join(body)}" if body else title


def parse(args: Sequence[str]) -> tuple[tuple[str, ...], PipelineConfig]:
    """(stages to run, config) from the command line; ValueError with one line on bad input."""
    args = list(args)
    named: list[str] = []
    while args and not args[0].startswith("-"):
        stage = args.pop(0)
        if stage not in (*STAGES, "all"):
            raise ValueError(f"unknown stage {stage!r}: use one of {', '.join(STAGES)} or all")
        named.append(stage)
    stages = STAGES if not named or "all" in named else tuple(s for s in STAGES if s in named)
    default = preset(_preset_name(args))
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            cfg = tyro.cli(PipelineConfig, default=default, args=args, description=USAGE)
    except SystemExit as e:
        if e.code in (0, None):
            raise
        raise ValueError(_tyro_error(captured.getvalue())) from None
    cfg.validate()
    return stages, cfg


def main(argv: Sequence[str] | None = None) -> int:
    show_package_log()
    try:
        stages, cfg = parse(sys.argv[1:] if argv is None else argv)
        run_dir = run(cfg, stages)
    except (ValueError, FileNotFoundError) as e:
        if os.environ.get("DAWM_DEBUG"):
            raise
        message = " ".join(str(e).split())
        if distributed.is_main():  # torchrun: every rank raised the same error
            print(f"dawm_pipeline: error: {message}", file=sys.stderr)
        else:  # torchrun stops every rank once one exits: give rank 0 the time to say why
            time.sleep(2)
        return 2
    except KeyboardInterrupt:
        print("dawm_pipeline: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    if distributed.is_main():  # torchrun: one line, not one per rank
        print(run_dir)
    return 0
