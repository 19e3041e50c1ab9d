"""Curves of wm_quality.py's JSON lines: each step-0 metric against training steps, one line per
(task, width, conditioning), with issue #20's targets drawn in (docs/fidelity.md shows them).

    .venv/bin/python benchmarks/wm_quality_plot.py docs/results/fidelity/*.jsonl \
        --out docs/results/fidelity/curves.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from dawm_pipeline.atomic import save_figure

PANELS = {
    "velocity_r2": ("velocity R² (step 0)", (0.9, None)),
    "action_sensitivity": ("action sensitivity", (0.8, 1.2)),
    "reward_change_r2": ("R² of r̂'s change when a_t is swapped", (None, None)),
    "val_loss": ("validation loss (EMA network)", (None, None)),
}
"""metric -> (title, target band lower/upper bound, None where open)."""


def read_rows(paths: list[Path]) -> list[dict]:
    rows = []
    for path in paths:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    msg = f"{path}:{n}: not a JSON line ({e.msg}): rerun wm_quality.py"
                    raise SystemExit(msg) from None
    return rows


def plot(rows: list[dict], out: Path) -> str:
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 3.8))
    series: dict[str, list[dict]] = {}
    for row in rows:
        tokens = ", action tokens" if row.get("action_tokens") else ""
        label = f"{row['env']} dim {row['dim']} lr {row['lr']:g}{tokens}"
        if "precision" in row:  # rows of a training-mode comparison (issue #16)
            graph = " + CUDA graph" if row["cuda_graph"] else ""
            label += f", {row['precision']}{graph}, seed {row['seed']}"
        series.setdefault(label, []).append(row)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = {label: cycle[i % len(cycle)] for i, label in enumerate(series)}
    for ax, (metric, (title, (lo, hi))) in zip(axes, PANELS.items(), strict=True):
        for label, points in series.items():
            points = sorted((r for r in points if metric in r), key=lambda r: r["steps"])
            if points:  # a series keeps its colour in every panel, even where it has no points
                ax.plot([r["steps"] for r in points], [r[metric] for r in points], "o-",
                        label=label, markersize=3, color=colours[label])  # fmt: skip
        for bound in (lo, hi):
            if bound is not None:
                ax.axhline(bound, color="grey", linestyle="--", linewidth=0.8)
        ax.set_title(title)
        ax.set_xlabel("world-model training steps")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+", type=Path, help="wm_quality.py JSON lines")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = p.parse_args()
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise SystemExit(f"no such file: {', '.join(missing)}: give wm_quality.py outputs")
    print(plot(read_rows(args.files), args.out))


if __name__ == "__main__":
    main()
