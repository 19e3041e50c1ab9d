"""The figures of docs/results.md: per-task bars, learning curves, horizon ablation."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from dawm_pipeline.atomic import save_figure
from dawm_pipeline.experiments.summary import Entry

COLORS = {"real": "tab:blue", "dawm": "tab:orange"}
LABELS = {"real": "real only", "dawm": "real + DAWM"}


def bars(entries: dict[str, Entry], title: str, path: Path) -> str:
    """Grouped bars: one group per label (task / algo), real vs DAWM, std over seeds."""
    labels = list(entries)
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.6 * len(labels)), 3.2))
    for i, cond in enumerate(("real", "dawm")):
        stats = [entries[k].mean_std(cond) for k in labels]
        ax.bar(
            x + (i - 0.5) * 0.38,
            [m for m, _ in stats],
            0.38,
            yerr=[s for _, s in stats],
            capsize=3,
            color=COLORS[cond],
            label=LABELS[cond],
        )
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("normalized score")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def curves(entries: dict[str, Entry], path: Path) -> str:
    """Learning curves (mean +- std over seeds), one panel per entry."""
    fig, axes = plt.subplots(1, len(entries), figsize=(3.6 * len(entries), 3), squeeze=False)
    for ax, (label, entry) in zip(axes[0], entries.items(), strict=True):
        for cond in ("real", "dawm"):
            runs = [np.asarray(r["curves"][cond], float) for r in entry.rows if r["curves"][cond]]
            if not runs:
                continue
            n = min(len(r) for r in runs)
            steps = runs[0][:n, 0]
            values = np.stack([r[:n, 1] for r in runs])
            mean, std = values.mean(0), values.std(0)
            ax.plot(steps, mean, color=COLORS[cond], label=LABELS[cond])
            ax.fill_between(steps, mean - std, mean + std, color=COLORS[cond], alpha=0.2)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("agent updates")
        ax.set_ylabel("normalized score")
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def horizon(series: dict[str, dict[int, Entry]], path: Path) -> str:
    """Score vs H per task, real-only and real + DAWM."""
    fig, axes = plt.subplots(1, len(series), figsize=(3.6 * len(series), 3), squeeze=False)
    for ax, (task, by_h) in zip(axes[0], series.items(), strict=True):
        hs = sorted(by_h)
        for cond in ("real", "dawm"):
            stats = [by_h[h].mean_std(cond) for h in hs]
            ax.errorbar(
                hs,
                [m for m, _ in stats],
                yerr=[s for _, s in stats],
                marker="o",
                capsize=3,
                color=COLORS[cond],
                label=LABELS[cond],
            )
        ax.set_xticks(hs)
        ax.set_xlabel("horizon H")
        ax.set_ylabel("normalized score")
        ax.set_title(task, fontsize=9)
        ax.legend(fontsize=7)
    return save_figure(fig, path)
