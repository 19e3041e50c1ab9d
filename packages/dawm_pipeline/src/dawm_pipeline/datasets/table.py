"""Markdown tables of the bundled datasets, read from their manifests (for docs/datasets.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dawm_pipeline import atomic
from dawm_pipeline.data import bundled
from dawm_pipeline.tasks import LEVELS, robot, robots

# D4RL v2 transition counts for the same names (Fu et al. 2020): medium = 1M rollouts of the
# medium policy, medium-expert = medium + 1M expert transitions, medium-replay = the replay
# buffer up to the medium policy.
D4RL_TRANSITIONS = {
    "medium": {"hopper": "1,000,000", "walker2d": "1,000,000", "halfcheetah": "1,000,000"},
    "medium-replay": {"hopper": "402,000", "walker2d": "302,000", "halfcheetah": "202,000"},
    "medium-expert": {"hopper": "≈2,000,000", "walker2d": "≈2,000,000", "halfcheetah": "2,000,000"},
}


# D4RL does not publish its datasets' mean returns. Behaviour cloning reproduces the behaviour
# policy, so BC's normalized score on each D4RL v2 dataset is the closest published level:
# CORL README, BC, final normalized score (tinkoff-ai/CORL).
D4RL_BC = {
    "medium": {"halfcheetah": 42.40, "hopper": 53.51, "walker2d": 63.23},
    "medium-replay": {"halfcheetah": 35.66, "hopper": 29.81, "walker2d": 21.80},
    "medium-expert": {"halfcheetah": 55.95, "hopper": 52.30, "walker2d": 98.96},
}


def level_table(bundle_dir: Path) -> str:
    """Our datasets' mean normalized return beside D4RL's level (BC's score on it)."""
    rows = [
        "| dataset | ours: mean normalized return | D4RL v2: BC's normalized score (CORL) |",
        "|---|---|---|",
    ]
    for env in robots():
        try:
            stats = bundled.read_manifest(env, bundle_dir).get("stats", {})
        except FileNotFoundError:
            continue
        for level in LEVELS:
            name = f"{env}-{level}"
            ours = stats.get(name, {}).get("normalized_mean")
            d4rl = D4RL_BC[level].get(env)
            rows.append(
                f"| {name} | {'not measured' if ours is None else f'{ours:.1f}'} | "
                f"{'none (no D4RL data)' if d4rl is None else f'{d4rl:.1f}'} |"
            )
    return "\n".join(rows)


@dataclass
class TableConfig:
    """Print the measured tables of every built environment."""

    bundle_dir: Path = bundled.BUNDLE_DIR
    plot: Path | None = None
    """Also draw every robot's behaviour-policy curve (PNG) with its medium and expert."""


def curves_figure(bundle_dir: Path, path: Path) -> str:
    """Each built robot's SAC evaluation curve (normalized), the chosen medium and expert, and
    D4RL's medium level (BC's score) where there is one; a second run's curve when medium came
    from one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    built = []
    for env in robots():
        try:
            built.append((env, bundled.read_manifest(env, bundle_dir)))
        except FileNotFoundError:
            continue
    if not built:
        raise FileNotFoundError(f"no built robot in {bundle_dir}: run `datasets build` first")
    fig, axes = plt.subplots(1, len(built), figsize=(4.2 * len(built), 3.4), squeeze=False)
    for ax, (env, m) in zip(axes[0], built, strict=True):
        bot, recipe = robot(env), m["recipe"]
        runs = [("main run", recipe["evaluations"])]
        if "medium_run" in recipe:
            runs.append(("medium run", recipe["medium_run"]["evaluations"]))
        for label, evals in runs:
            steps = [e["step"] / 1000 for e in evals]
            ax.plot(steps, bot.normalized_score(np.array([e["mean_return"] for e in evals])),
                    linewidth=1, label=label)  # fmt: skip
        for which, marker, colour in (("expert", "*", "tab:orange"), ("medium", "o", "tab:green")):
            e = recipe[which]
            ax.plot(e["step"] / 1000, e["normalized"], marker, color=colour, markersize=9,
                    label=which)  # fmt: skip
        if env in D4RL_BC["medium"]:
            ax.axhline(D4RL_BC["medium"][env], color="grey", linestyle="--", linewidth=0.8,
                       label="D4RL medium (BC)")  # fmt: skip
        sampled = recipe.get("medium_rule", {}).get("returns", "").startswith("sampled")
        ax.set_title(
            f"{env} (SAC seed {recipe['seed']})" + ("\nmedium by sampled returns" * sampled)
        )
        ax.set_xlabel("env steps (k)")
        ax.set_ylabel("normalized return")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return atomic.save_figure(fig, path)


def policy_table(bundle_dir: Path) -> str:
    rows = [
        "| env | budget (steps) | trained | expert: step, return (normalized) | "
        "medium: step, return (normalized) |",
        "|---|---|---|---|---|",
    ]
    for env in robots():
        try:
            r = bundled.read_manifest(env, bundle_dir)["recipe"]
        except FileNotFoundError:
            rows.append(f"| {env} | not built yet | | | |")
            continue
        e, m = r["expert"], r["medium"]
        rows.append(
            f"| {env} | {r['budget_steps']:,} | {r['trained_steps']:,}"
            f"{'' if r['finished'] else ' (unfinished)'} | {e['step']:,}: {e['mean_return']:.0f} "
            f"± {e['std_return']:.0f} ({e['normalized']:.1f}) | {m['step']:,}: "
            f"{m['mean_return']:.0f} ± {m['std_return']:.0f} ({m['normalized']:.1f}) |"
        )
    return "\n".join(rows)


def dataset_table(bundle_dir: Path) -> str:
    rows = [
        "| dataset | transitions | episodes | return mean ± std (normalized) | terminals / "
        "timeouts | first build (s) | D4RL v2 transitions |",
        "|---|---|---|---|---|---|---|",
    ]
    for env in robots():
        try:
            m = bundled.read_manifest(env, bundle_dir)
        except FileNotFoundError:
            continue
        for level in LEVELS:
            name = f"{env}-{level}"
            s = m.get("stats", {}).get(name)
            if s is None:
                rows.append(f"| dawm {name} | not measured | | | | | |")
                continue
            rows.append(
                f"| dawm {name} | {s['transitions']:,} | {s['episodes']:,} | "
                f"{s['return_mean']:.0f} ± {s['return_std']:.0f} ({s['normalized_mean']:.1f}) | "
                f"{s['terminals']:,} / {s['timeouts']:,} | {m['build_seconds'][name]} | "
                f"{D4RL_TRANSITIONS[level].get(env, 'none')} |"
            )
    return "\n".join(rows)


def table(cfg: TableConfig) -> None:
    print(policy_table(cfg.bundle_dir))
    print()
    print(dataset_table(cfg.bundle_dir))
    print()
    print(level_table(cfg.bundle_dir))
    if cfg.plot is not None:
        print(f"\ncurves: {curves_figure(cfg.bundle_dir, cfg.plot)}")
