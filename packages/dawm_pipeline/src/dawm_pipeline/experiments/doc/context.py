"""The report's framing sections: data and scales, closing verdict, how to reproduce."""

from __future__ import annotations

from dawm_pipeline.experiments.doc.base import CMD, Doc
from dawm_pipeline.experiments.plan import SCALES


def data_and_scale(doc: Doc) -> None:
    doc.add("## Data and scale", "")
    datasets, cells = {}, {}
    for row in doc.rows:
        d = row["dataset"]
        key = (d["name"], d["fingerprint"])
        datasets[key] = d
        per_scale = cells.setdefault(key, {})
        per_scale[row["scale"]] = per_scale.get(row["scale"], 0) + 1
    if datasets:
        doc.add(
            "A dataset listed twice was rebuilt between runs (another fingerprint); the last "
            "column says which cells used each build.",
            "",
        )
        doc.table(
            ["dataset", "source", "id", "transitions used", "fingerprint", "cells (scale)"],
            [
                [
                    d["name"],
                    d["source_label"],
                    d["dataset_id"],
                    str(d["transitions"]),
                    str(d["fingerprint"])[:16],
                    ", ".join(f"{n} ({scale})" for scale, n in sorted(cells[key].items())),
                ]
                for key, d in sorted(datasets.items(), key=lambda item: item[0][0])
            ],
        )
    else:
        doc.add("No cell has finished yet.", "")
    doc.add(
        "`dawm/...` datasets are this project's own (its behaviour policies on Gymnasium "
        "v5, D4RL's recipe): they are not D4RL, and scores on them are not D4RL scores.",
        "",
    )
    used = {r["scale"] for r in doc.rows} or {"cpu"}
    doc.add(
        "Each scale's preset as the code defines it now (every row records the settings and "
        "source revision it ran with; rows from earlier settings are kept until rerun):",
        "",
    )
    for name in SCALES:
        if name in used or name == "paper":
            doc.add(f"- `--scale {name}`: {SCALES[name].description}.")
    settings = {}
    for row in doc.rows:
        s = row.get("settings")
        if s and row.get("algo") is not None:
            key = (row["scale"], row["task"], row["horizon"], row["synthetic_ratio"])
            settings[key] = (s, row["generate"], row["stage_seconds"], row.get("device"))
    if settings:
        doc.add("", "Measured settings and stage times per world model:", "")
        body = []
        for (scale, task, h, ratio), (s, gen, secs, device) in sorted(settings.items()):
            body.append(
                [
                    scale,
                    task,
                    str(h),
                    f"{ratio:g}x",
                    f"dim {s['wm_dim']} {tuple(s['wm_dim_mults'])}, {s['wm_steps']:,} steps "
                    f"× batch {s['wm_batch']}",
                    f"{gen['transitions']:,}",
                    f"{s['agent_steps']:,} × batch {s['agent_batch']}",
                    f"{secs['train-wm']:.0f} s / {secs['generate']:.0f} s",
                    str(device),
                ]
            )
        doc.table(
            [
                "scale",
                "task",
                "H",
                "ratio",
                "world model",
                "synthetic transitions",
                "agent updates",
                "wm train / generate",
                "device",
            ],
            body,
        )
    doc.add("")


def closing(doc: Doc) -> None:
    doc.heading("Closing note" if doc.headline else "Closing note of the archive")
    if not doc.notes:
        doc.add("Nothing is measured yet: every row above is pending.", "")
        return
    doc.add(
        'Generated from the tables above. "Helped" means DAWM beat real only on every '
        "seed; with 3 to 5 seeds that is weak evidence either way, and nothing here is a D4RL "
        "number.",
        "",
        f"Overall, over {sum(doc.tally.values())} measured comparisons (every table entry "
        f"above, ablations included): DAWM helped on every seed in {doc.tally['helped']}, "
        f"hurt on every seed in {doc.tally['hurt']}, and was mixed in "
        f"{doc.tally['mixed']}.",
        "",
    )
    doc.add(*(f"- {note}" for note in doc.notes), "")


def reproduce(doc: Doc) -> None:
    doc.add(
        "## Reproduce",
        "",
        "```bash",
        f"{CMD} main --scale bench --algos td3bc --threads 1   # 12 tasks x 5 seeds; one such "
        "command per core, each with its own --tasks",
        f"{CMD} main --scale bench --tasks hopper-medium-replay --algos td3bc --seeds 0",
        f"{CMD} horizon --scale bench",
        f"{CMD} dawm-t --scale bench",
        f"{CMD} idm-check --scale bench       # trains the world models the main cells reuse",
        f"{CMD} stochastic --scale bench      # hopper- and walker2d-medium, plain vs stochastic",
        f"{CMD} main --scale cpu              # the archived 4,000-update tables",
        f"{CMD} all --scale paper --device cuda  # the paper's settings, on a GPU",
        f"{CMD} report                        # rewrite this file from the results",
        "```",
        "",
        "Every command resumes: finished cells (one line each in `docs/results/results."
        "jsonl`) are skipped, and an interrupted cell resumes from its stage checkpoints "
        "under `runs/experiments/`. Cells share the world model, IDM and generated data "
        "whenever their settings agree (TD3BC and IQL, every seed), and an ablation's cell "
        "at H = 7, 8x and plain dynamics is the main table's own cell.",
        "",
        "The bench rows ran in the background, two queues side by side, from a frozen clone "
        "of the source: `bash benchmarks/bench_queue.sh setup|start|merge` (its header says "
        "how).",
        "",
    )
