"""Render the run report: report.json (the numbers), report.md (for people), PNG plots.

Matplotlib runs on the Agg backend (no display needed). The markdown states plainly whether
real + DAWM beat real-only, by verdict.py's rule (better, or worse, on every seed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from dawm_pipeline.atomic import save_figure
from dawm_pipeline.verdict import Comparison

CONDITION_LABELS = {"real": "real only", "dawm": "real + DAWM"}


def plot_wm_loss(history: dict[str, Any], path: Path) -> str:
    quality = history.get("step_zero_r2") or []
    fig, axes = plt.subplots(1, 2 if quality else 1, figsize=(11 if quality else 6, 3.5))
    ax = axes[0] if quality else axes
    ax.plot(history["step"], history["loss"], label="train (running mean)")
    if history.get("val_step"):
        ax.plot(history["val_step"], history["val_loss"], "o-", label="held-out (EMA net)")
    ax.set(xlabel="step", ylabel="diffusion loss", title="World-model loss", yscale="log")
    ax.legend()
    if quality:
        steps, r2 = zip(*quality, strict=True)
        axes[1].plot(steps, r2, "o-")
        axes[1].set(xlabel="step", ylabel="R²", title="Held-out step-0 velocity-change R²")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_idm(checks: dict[str, float], path: Path) -> str:
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    names, values = list(checks), [checks[k] for k in checks]
    shown = np.clip(values, -1.0, 1.0)
    ax.bar(range(len(names)), shown, color=["#4c72b0", "#4c72b0", "#dd8452", "#dd8452"])
    ax.set_xticks(range(len(names)), names, rotation=15, fontsize=8)
    for i, v in enumerate(values):
        ax.text(i, shown[i], f"{v:.3f}", ha="center", va="bottom", fontsize=8)
    ax.set(
        ylabel="simulator R² of s' - s (clipped to [-1, 1])",
        title="Do the actions reproduce the next state?",
        ylim=(min(-0.1, shown.min()), 1.1),
    )
    fig.tight_layout()
    return save_figure(fig, path)


def plot_state_stats(real: dict[str, Any], gen: dict[str, Any], path: Path) -> str:
    dims = np.arange(len(real["obs_mean"]))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.errorbar(dims - 0.15, real["obs_mean"], real["obs_std"], fmt="o", label="real", capsize=3)
    ax.errorbar(dims + 0.15, gen["obs_mean"], gen["obs_std"], fmt="s", label="generated", capsize=3)
    ax.set(xlabel="state dimension", ylabel="mean ± std", title="States: real vs generated")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def plot_rewards(real_hist, gen_hist, edges, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    centers = 0.5 * (np.asarray(edges[1:]) + np.asarray(edges[:-1]))
    for hist, label in ((real_hist, "real"), (gen_hist, "generated")):
        hist = np.asarray(hist, float)
        ax.step(centers, hist / max(hist.sum(), 1), where="mid", label=label)
    ax.set(xlabel="reward", ylabel="fraction", title="Reward distribution")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def plot_projection(real: np.ndarray, gen: np.ndarray, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.scatter(real[:, 0], real[:, 1], s=2, alpha=0.3, label="real")
    ax.scatter(gen[:, 0], gen[:, 1], s=2, alpha=0.3, label="generated")
    ax.set(xlabel="PC 1 (of real states)", ylabel="PC 2", title="2-D PCA projection of states")
    ax.legend(markerscale=5)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_curves(curves: dict[str, dict[str, list[list[float]]]], path: Path) -> str:
    """curves[algo][condition] = list over seeds of [[step, normalized score], ...]."""
    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 3.5), squeeze=False)
    for ax, (algo, by_condition) in zip(axes[0], curves.items(), strict=True):
        for condition, seeds in by_condition.items():
            n = min(len(s) for s in seeds)
            arr = np.asarray([s[:n] for s in seeds], float)  # (seeds, n, 2)
            steps, scores = arr[0, :, 0], arr[:, :, 1]
            mean, std = scores.mean(0), scores.std(0)
            ax.plot(steps, mean, "o-", label=CONDITION_LABELS.get(condition, condition))
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        ax.set(xlabel="gradient step", ylabel="normalized score", title=f"{algo} learning curve")
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def verdict(table: dict[str, Any]) -> dict[str, Any]:
    """Per algorithm: real-only vs real + DAWM seed by seed (verdict.py's one rule)."""
    return {
        algo: Comparison(cond["real"]["seeds"], cond["dawm"]["seeds"]).to_dict()
        for algo, cond in table.items()
        if "real" in cond and "dawm" in cond
    }


def verdict_text(v: dict[str, Any]) -> str:
    """One honest sentence for one algorithm's verdict."""
    line = Comparison(v["real"], v["dawm"]).sentence("final score")
    return line if v["kind"] != "hurt" else f"**{line}**"


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def fidelity_lines(f: dict[str, Any]) -> list[str]:
    """The world model's step-0 fidelity table (fidelity.py), each score beside its floor."""
    return [
        "### World model, step 0, against the simulator",
        "",
        f"On {f['n']} real start rows ({f['n_clipped']} with velocities at the env's clip "
        "left out of the velocity scores): does ŝ_{t+1} follow a_t as MuJoCo does?",
        "",
        "| metric | world model | random action (floor) | target |",
        "|---|---|---|---|",
        f"| R² of the velocity change | {f['velocity_r2']:.3f} | "
        f"{f['velocity_r2_random_action']:.3f} | ≥ 0.9 |",
        f"| action sensitivity (model / simulator) | {f['action_sensitivity']:.2f} | 0 | 0.8–1.2 |",
        f"| R² of r̂_t | {f['reward_r2']:.3f} | {f['reward_r2_random_action']:.3f} | ≥ 0.9 |",
        f"| R² of r̂_t's change when a_t is swapped | {_fmt(f.get('reward_change_r2'))} | "
        "≤ 0 (a model blind to a_t) | 1 = as the simulator |",
        "",
    ]


def at_bound_lines(gen: dict[str, Any], idm: dict[str, Any]) -> list[str]:
    """The inferred actions' rate at the action bound beside the same IDM's on real held-out
    windows and the recorded actions' (each absent from stages older than its check)."""
    if "idm_at_bound_generated" not in gen:
        return []
    dropped = gen.get("dropped_at_bound", 0)
    on_real = idm.get("idm_at_bound_real")
    windows = "training" if idm.get("heldout_is_train") else "held-out"
    yardstick = "" if on_real is None else f"{100 * on_real:.1f}% on real {windows} windows, "
    return [
        f"IDM-inferred actions at the action bound (some dimension): "
        f"{100 * gen['idm_at_bound_generated']:.1f}% of generated steps 1..H-1, vs "
        f"{yardstick}{100 * gen['real_at_bound']:.1f}% of the real data's recorded actions"
        + (f"; {dropped} such transitions left out (--gen.drop-at-bound)." if dropped else "."),
        "",
    ]


def markdown(r: dict[str, Any]) -> str:
    """The human-readable report from the report.json dict."""
    ds, gen, idm, wm = r["dataset"], r["generated"], r["idm"], r["world_model"]
    step0, later = gen["sim"]["generated_step0"], gen["sim"]["generated_idm_steps"]
    lines = [
        f"# DAWM run report: {r['env']} ({r['run']})",
        "",
        f"Preset `{r['preset']}`; pipeline compute time {r['total_seconds'] / 60:.1f} min "
        f"(sum of the stage times below; torch threads: {r['threads']})"
        + (
            f"; wall time of the command that ran every stage, up to this report: "
            f"{r['wall_seconds'] / 60:.1f} min."
            if r.get("wall_seconds")
            else "."
        ),
        "",
        "## Result",
        "",
        "| algorithm | real only | real + DAWM | DAWM − real |",
        "|---|---|---|---|",
    ]
    for algo, cond in r["agents"]["table"].items():

        def cell(c: str, cond=cond) -> str:
            if c not in cond:
                return "n/a"
            return f"{cond[c]['mean']:.1f} ± {cond[c]['std']:.1f} (n={cond[c]['n']})"

        v = r["verdict"].get(algo, {})
        lines.append(
            f"| {algo} | {cell('real')} | {cell('dawm')} | {_fmt(v.get('dawm_minus_real'), 1)} |"
        )
    lines.append("")
    lines.append(
        "Normalized score = 100·(R − R_random)/(R_expert − R_random) with the task's "
        f"reference returns ({ds['ref_min_score']}, {ds['ref_max_score']}); mean ± std "
        f"over seeds of each seed's score, the mean of its last {r['agents']['score_points']} "
        f"learning-curve evaluations ({r['settings']['eval_episodes']} episodes each); the "
        f"final agent's own evaluation ({r['agents']['episodes']} episodes) is in report.json."
    )
    lines.append("")
    for algo, v in r["verdict"].items():
        lines.append(f"- {algo}: {verdict_text(v)}")
    lines += [
        "",
        "## Dataset",
        "",
        f"- source: **{ds['source_label']}** (`{ds['dataset_id']}`)",
        f"- evaluation env: {ds['env_id']}",
        f"- {ds['transitions']} transitions in {ds['episodes']} episodes "
        f"(used: {r['data']['used_transitions']} transitions, data scale {r['data']['data_scale']})",
        f"- episode return {ds['return_mean']:.1f} ± {ds['return_std']:.1f} "
        f"(normalized {ds['normalized_mean']:.1f})",
        f"- fingerprint (sha256 of the arrays): `{ds['fingerprint']}`",
        "",
        "## World model",
        "",
        f"{wm['windows']} training windows (H = {r['settings']['horizon']}), "
        f"{wm['steps']} steps at {wm['steps_per_second']:.1f} steps/s, final train loss "
        f"{_fmt(wm['final_loss'], 4)}, held-out loss {_fmt(wm['final_val_loss'], 4)}; "
        f"R_tg scale {wm['rtg_scale']} (DWM arXiv 2402.03570)."
        + (
            f" Training stopped early at step {wm['steps']} of at most {wm['steps_cap']}: "
            "the held-out step-0 check (right panel) had stopped improving."
            if wm.get("stopped_early")
            else ""
        ),
        "",
        f"![world-model loss]({r['plots']['wm_loss']})",
        "",
        "## Inverse dynamics: real vs generated states",
        "",
        f"Held-out real transitions ({idm['heldout_transitions']}): action R² "
        f"{idm['heldout_action_r2']:.3f}, MSE {idm['heldout_action_mse']:.4f}"
        + (
            " (no episode could be held out: measured on training data)"
            if idm["heldout_is_train"]
            else ""
        )
        + ".",
        "",
        "Generated states have no true action, so every action is judged by stepping MuJoCo "
        "from the state and comparing with the next state; R² per dimension with the real "
        "data's variance as the scale, averaged over dimensions. The velocity column (the "
        "strict one: the part an action moves in one step) leaves out rows whose velocities "
        f"sit at the env's clip ({idm['sim_clipped_rows']} of the real rows here):",
        "",
        "| transitions | action | R² of velocity change | R² of s' − s | R² of s' |",
        "|---|---|---|---|---|",
        f"| real, held out | recorded action (check of the check) | "
        f"{idm['sim_velocity_r2_true_action']:.3f} | {idm['sim_r2_true_action']:.3f} | "
        f"{idm['sim_state_r2_true_action']:.3f} |",
        f"| real, held out | IDM | {idm['sim_velocity_r2_idm_action']:.3f} | "
        f"{idm['sim_r2_idm_action']:.3f} | {idm['sim_state_r2_idm_action']:.3f} |",
        f"| real, held out | random (floor) | {idm['sim_velocity_r2_random_action']:.3f} | | |",
        f"| generated, step 0 | real a_t (world model alone) | {step0['velocity_r2']:.3f} | "
        f"{step0['delta_r2']:.3f} | {step0['state_r2']:.3f} |",
        f"| generated, steps 1..H−1 | IDM on generated states | {later['velocity_r2']:.3f} | "
        f"{later['delta_r2']:.3f} | {later['state_r2']:.3f} |",
        "",
        *fidelity_lines(gen["sim"]["wm_fidelity"]),
    ]
    drop = gen["sim"]["idm_velocity_relative_drop"]
    if gen["sim"]["idm_drop_flag"]:
        lines.append(
            f"**FLAG: the IDM's velocity R² drops by {100 * drop:.0f}% from real to "
            "generated states (> 15%).** The drop mixes IDM error on off-distribution "
            "states with world-model steps that are not physically consistent (compare "
            "the step-0 row, which uses the real action)."
        )
    else:
        lines.append(
            f"The IDM's velocity R² changes by {-100 * drop:+.0f}% from real to "
            "generated states (flag threshold: a 15% drop)."
        )
    lines += [
        "",
        f"![IDM check]({r['plots']['idm']})",
        "",
        "## Generated data",
        "",
        f"{gen['transitions']} transitions ({gen['transitions'] / max(ds['transitions'], 1):.2f}× "
        f"the real data; target {r['settings']['synthetic_ratio']}×, steps after a generated "
        f"termination dropped) from {gen['rollouts']} rollouts, sampler `{gen['sampler']}`, "
        f"k = {r['settings']['sampling_steps']} DDIM steps, ω = {r['settings']['guidance']}, "
        f"R_tg from {gen['rtg_source']}; {100 * gen['terminal_fraction']:.1f}% terminal.",
        "",
        *at_bound_lines(gen, idm),
        "| | reward mean | reward std |",
        "|---|---|---|",
        f"| real | {r['stats']['real']['reward_mean']:.3f} | {r['stats']['real']['reward_std']:.3f} |",
        f"| generated | {r['stats']['generated']['reward_mean']:.3f} | "
        f"{r['stats']['generated']['reward_std']:.3f} |",
        "",
        "Per state dimension, generated std / real std: "
        + ", ".join(f"{v:.2f}" for v in r["stats"]["obs_std_ratio"])
        + "; mean shift in real "
        "stds: " + ", ".join(f"{v:+.2f}" for v in r["stats"]["obs_mean_shift_in_std"]) + ".",
        "",
        f"![states]({r['plots']['states']}) ![rewards]({r['plots']['rewards']})",
        "",
        f"![projection]({r['plots']['projection']})",
        "",
        "## Agents",
        "",
        f"{r['settings']['agent_steps']} gradient steps per agent, batch "
        f"{r['settings']['agent_batch']}, synthetic share per batch: "
        f"{r['settings']['synthetic_share']}.",
        "",
        f"![learning curves]({r['plots']['curves']})",
        "",
        "## Stage times (s)",
        "",
        "| stage | seconds |",
        "|---|---|",
        *[f"| {k} | {v:.1f} |" for k, v in r["stage_seconds"].items()],
        "",
        "## Versions",
        "",
        ", ".join(f"{k} {v}" for k, v in r["versions"].items() if v),
        "",
    ]
    return "\n".join(lines)
