"""`python -m dawm_pipeline.experiments NAME [options]`: run an experiment, or `report`.

Finished cells are skipped, so the same command resumes an interrupted sweep; docs/results.md
is rewritten from the results file after every finished cell. `--launcher ray` runs the
cells as Ray tasks, on this machine or a cluster (`--ray-address`; docs/scaling.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dawm_pipeline import tblog
from dawm_pipeline.experiments.launchers import LAUNCHERS
from dawm_pipeline.experiments.plan import ALGOS, EXPERIMENTS, SCALES, TASKS, check_name

PROG = "python -m dawm_pipeline.experiments"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        raise ValueError(f"{message} (see {PROG} --help)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("name", help=f"{', '.join(EXPERIMENTS)}, all (every one) or report")
    p.add_argument("--scale", default="cpu", help=f"{', '.join(SCALES)} (default cpu)")
    p.add_argument("--tasks", nargs="+", help=f"subset of {', '.join(TASKS)}")
    p.add_argument("--algos", nargs="+", help=f"subset of {', '.join(ALGOS)}")
    p.add_argument("--seeds", nargs="+", type=int, help="seeds (default: the scale's)")
    p.add_argument("--out", default="runs/experiments", help="artifacts root")
    p.add_argument("--results", default="docs/results/results.jsonl", help="results file")
    p.add_argument("--doc", default="docs/results.md", help="markdown report (plots beside)")
    p.add_argument("--no-doc", action="store_true", help="do not rewrite the markdown report")
    p.add_argument("--threads", type=int, help="torch threads (default: the preset's)")
    p.add_argument("--device", help="torch device (default: the preset's; paper: cuda)")
    p.add_argument("--sampler", choices=("auto", "torch", "native"), help="generation backend")
    p.add_argument(
        "--batch-seeds",
        action="store_true",
        help="train a cell's seeds together, their agents as one batched network (for GPUs)",
    )
    p.add_argument(
        "--cuda-graph",
        action="store_true",
        help="capture world-model steps and agent updates as CUDA graphs (--device cuda only)",
    )
    p.add_argument(
        "--eval-workers",
        type=int,
        help="processes stepping the evaluation envs of --batch-seeds cells (default 1)",
    )
    p.add_argument(
        "--log",
        choices=("none", "tensorboard"),
        help="training curves as TensorBoard event files under each cell's folder",
    )
    p.add_argument(
        "--dataset-path",
        action="append",
        default=[],
        metavar="TASK=FILE",
        help="read TASK from this D4RL hdf5 file (repeatable)",
    )
    p.add_argument(
        "--launcher",
        choices=LAUNCHERS,
        default="local",
        help="local: cells one after another here (default); ray: cells as Ray tasks",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="Ray cluster to use (host:port, or auto); default: RAY_ADDRESS, a cluster\n"
        "started on this machine with `ray start`, else a new one of its cores",
    )
    return p


def _dataset_paths(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        task, sep, path = item.partition("=")
        if not sep or task not in TASKS:
            raise ValueError(
                f"--dataset-path {item!r}: write TASK=FILE with TASK one of {', '.join(TASKS)}"
            )
        out[task] = path
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from dawm_pipeline.experiments.doc import write_report
    from dawm_pipeline.experiments.launchers import check_options, launcher
    from dawm_pipeline.experiments.runner import Sweep
    from dawm_pipeline.pipeline import show_package_log

    show_package_log()
    try:
        args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
        check_options(args.launcher, args.ray_address)
        if args.eval_workers is not None and args.eval_workers < 1:
            raise ValueError(f"--eval-workers must be >= 1, got {args.eval_workers}")
        if args.batch_seeds and args.launcher != "local":
            raise ValueError("--batch-seeds runs with --launcher local only: drop one of them")
        names = list(EXPERIMENTS) if args.name == "all" else [args.name]
        if args.name != "report":
            for name in names:
                check_name(name)
        overrides = {
            k: getattr(args, k)
            for k in ("threads", "device", "sampler", "log", "cuda_graph", "eval_workers")
            if getattr(args, k)
        }
        if args.log == "tensorboard":
            tblog.check_available()
            print(f"training curves: tensorboard --logdir {args.out} (one folder per cell)")
        sweep = Sweep(
            args.scale,
            Path(args.out),
            Path(args.results),
            overrides,
            _dataset_paths(args.dataset_path),
            batch_seeds=args.batch_seeds,
        )

        def report(_row=None) -> None:
            if not args.no_doc:
                write_report(Path(args.results), Path(args.doc))

        if args.name != "report":
            with launcher(args.launcher, args.ray_address) as run_experiment:
                for name in names:
                    counts = run_experiment(
                        name,
                        sweep,
                        tuple(args.tasks) if args.tasks else None,
                        tuple(args.algos) if args.algos else None,
                        tuple(args.seeds) if args.seeds is not None else None,
                        on_row=report,
                    )
                    print(
                        f"{name}: {counts['done']} cells run, {counts['skipped']} already done, "
                        f"{counts['pending']} pending (dataset not built); rows in {args.results}"
                    )
        report()
    except (ValueError, FileNotFoundError) as e:
        if os.environ.get("DAWM_DEBUG"):
            raise
        print(f"dawm_pipeline.experiments: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "dawm_pipeline.experiments: interrupted; rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    if not args.no_doc:
        print(args.doc)
    return 0
