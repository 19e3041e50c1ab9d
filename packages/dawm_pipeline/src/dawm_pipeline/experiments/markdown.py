"""docs/results.md from the results file alone: tables, pending rows, plots, a closing note.

Every planned cell without a row shows as pending, with the reason when it is known (the
dataset is not built yet) so the tables say what is measured and what is not.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dawm_pipeline.atomic import write_text
from dawm_pipeline.experiments import paper, plots
from dawm_pipeline.experiments.plan import (
    ALGOS,
    EXPERIMENTS,
    SCALES,
    TASKS,
    plan,
    stochastic_task,
)
from dawm_pipeline.experiments.results import ResultStore
from dawm_pipeline.experiments.summary import Entry, group, latest, variant
from dawm_pipeline.tasks import STOCHASTIC, STOCHASTIC_SUFFIX, resolve
from dawm_pipeline.verdict import WORDS

ALGO_NAMES = {"td3bc": "TD3BC", "iql": "IQL"}
CMD = "python -m dawm_pipeline.experiments"


def on_gpu(row: dict[str, Any]) -> bool:
    return str(row.get("device", "cpu")).startswith("cuda")


def pending_reason(task: str) -> str:
    """'pending: dataset not built' when the task's data cannot be loaded here, else 'not run'."""
    from dawm_pipeline.data import bundled
    from dawm_pipeline.data.load import resolve_source

    try:
        if resolve_source(task) == "bundled":
            bundled.read_manifest(resolve(task).robot.name)
    except FileNotFoundError:
        return "pending: dataset not built"
    return "pending: not run"


class _Doc:
    """Builds the markdown for one results file."""

    def __init__(self, rows: list[dict[str, Any]], plot_dir: Path, plot_prefix: str):
        self.rows = latest(rows)
        self.plot_dir = plot_dir
        self.prefix = plot_prefix
        self.reasons: dict[str, str] = {}
        self.lines: list[str] = []
        self.notes: list[str] = []
        self.tally: dict[str, int] = dict.fromkeys(WORDS, 0)

    def reason(self, task: str) -> str:
        if task not in self.reasons:
            self.reasons[task] = pending_reason(task)
        return self.reasons[task]

    def of(self, experiment: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["experiment"] == experiment]

    def scales(self, experiment: str) -> list[str]:
        present = {r["scale"] for r in self.of(experiment)}
        return [s for s in SCALES if s in present] or ["cpu"]

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, header: list[str], body: list[list[str]]) -> None:
        self.add("| " + " | ".join(header) + " |", "|" + "---|" * len(header))
        self.add(*("| " + " | ".join(row) + " |" for row in body), "")

    def image(self, name: str, alt: str) -> None:
        self.add(f"![{alt}]({self.prefix}{name})", "")

    def entries(self, experiment: str, scale: str) -> dict[tuple, Entry]:
        return group([r for r in self.of(experiment) if r["scale"] == scale])

    @staticmethod
    def gpu(entry: Entry) -> str:
        return " †" if any(on_gpu(r) for r in entry.rows) else ""

    def verdict(self, label: str, entry: Entry) -> str:
        comparison = entry.comparison()
        self.tally[comparison.kind] += 1
        return comparison.sentence(label)

    def command(
        self, experiment: str, scale: str, rows: list[dict[str, Any]] | None = None
    ) -> None:
        """The commands that recompute (or, when finished, skip) this section's rows
        (default: every row of the experiment at this scale): one for the rows measured on
        the CPU, one for those measured on a GPU."""
        if rows is None:
            rows = [r for r in self.of(experiment) if r["scale"] == scale]
        for gpu in (False, True):
            part = [r for r in rows if on_gpu(r) == gpu]
            if not part:
                continue
            parts = [CMD, experiment, "--scale", scale, "--tasks"]
            parts += [t for t in TASKS if any(r["task"] == t for r in part)]
            algos = [a for a in ALGOS if any(r.get("algo") == a for r in part)]
            if algos:
                parts += ["--algos", *algos, "--seeds"]
                parts += [
                    str(s) for s in sorted({r["seed"] for r in part if r.get("seed") is not None})
                ]
            if gpu:
                parts += ["--device", "cuda"]
            label = "Measured rows on a GPU (†)" if gpu else "Measured rows"
            self.add(f"{label}: `{' '.join(parts)}`", "")

    # ------------------------------------------------------------------ sections
    def main(self) -> None:
        self.add("## Main table: real only vs real + DAWM", "")
        for scale in self.scales("main"):
            entries = self.entries("main", scale)
            planned = {variant(c) for c in plan("main", scale)}
            self.add(f"Scale `{scale}`. Normalized score, mean ± std over seeds (n per entry);")
            self.add("Δ = relative change of the mean, and on how many seeds DAWM beat real only.")
            self.add(
                "† = some of the entry's seeds ran on a GPU (the `--device cuda` command below).",
                "",
            )
            header = ["task"]
            for algo in ALGOS:
                name = ALGO_NAMES[algo]
                header += [f"{name} real", f"{name} + DAWM", "Δ", "n"]
            body, bar_entries, curve_entries = [], {}, {}
            for task in TASKS:
                row = [task]
                for algo in ALGOS:
                    key = next((v for v in planned if v[:2] == (task, algo)), None)
                    entry = entries.get(key) if key else None
                    if entry is None:
                        row += [self.reason(task), "", "", "0"]
                        continue
                    label = f"{task} {ALGO_NAMES[algo]}"
                    bar_entries[label] = curve_entries[label] = entry
                    self.notes.append(self.verdict(f"main ({scale}) {label}", entry))
                    row += [
                        entry.text("real") + self.gpu(entry),
                        entry.text("dawm"),
                        entry.change(),
                        str(entry.n),
                    ]
                body.append(row)
            self.table(header, body)
            self.command("main", scale)
            if bar_entries:
                name = plots.bars(
                    bar_entries, f"main, scale {scale}", self.plot_dir / f"main_bars_{scale}.png"
                )
                self.image(name, "per-task scores, real vs DAWM")
                name = plots.curves(curve_entries, self.plot_dir / f"curves_{scale}.png")
                self.image(name, "learning curves, real vs DAWM")
        self.published()

    def published(self) -> None:
        """Other papers' D4RL scores, in tables of their own so no cell mixes with ours."""
        self.add(
            "### Published numbers (D4RL data, not ours)",
            "",
            "These are results on the original D4RL datasets; ours are measured on this "
            "project's own datasets (see Data) at far smaller budgets, so the numbers are not "
            "comparable entry by entry. DAWM's per-task scores (arXiv 2509.19538) are not in "
            "the copy of the paper available offline; the per-task table below is DWM's, the "
            "world model DAWM builds on and compares against.",
            "",
            f"Per task, D4RL data, not ours: {paper.PER_TASK_SOURCE}. Mean ± std over 5 seeds "
            f"x 10 episodes, 0-1 there, x{paper.PER_TASK_SCALE:.0f} here.",
            "",
        )
        methods = paper.PER_TASK_METHODS
        body = []
        for task in TASKS:
            cells = [paper.PER_TASK[task][m] for m in methods]
            body.append([task] + [_published(mean, std) for mean, std in cells])
        self.table(["task (D4RL, not ours)", *methods], body)
        self.table(
            ["method (D4RL)", "9-task average", "source"],
            [[m, f"{v:.1f}", s] for m, v, s in paper.NINE_TASK_AVERAGES],
        )
        self.add(*(f"- {claim}" for claim in paper.DAWM_CLAIMS), "")

    def horizon(self) -> None:
        self.add("## Horizon ablation: H ∈ {1, 3, 7}", "")
        for scale in self.scales("horizon"):
            entries = self.entries("horizon", scale)
            self.add(f"Scale `{scale}`, TD3BC; the real-only column does not depend on H.", "")
            body, series = [], {}
            for cell in _variants("horizon", scale):
                task, _, h, _, _ = cell
                entry = entries.get(cell)
                if entry is None:
                    body.append([task, str(h), self.reason(task), "", "", "0"])
                    continue
                series.setdefault(task, {})[h] = entry
                self.notes.append(self.verdict(f"horizon ({scale}) {task} H={h}", entry))
                body.append(
                    [
                        task,
                        str(h),
                        entry.text("real") + self.gpu(entry),
                        entry.text("dawm"),
                        entry.change(),
                        str(entry.n),
                    ]
                )
            self.table(["task", "H", "real", "real + DAWM", "Δ", "n"], body)
            self.command("horizon", scale)
            if series:
                self.image(
                    plots.horizon(series, self.plot_dir / f"horizon_{scale}.png"),
                    "score vs horizon",
                )

    def volume(self) -> None:
        self.add("## DAWM-T: synthetic volume 1x vs 8x", "")
        self.add(
            "Synthetic transitions per real one: 1 (1/8 of the paper's volume) vs 8 (the "
            "paper's). TD3BC.",
            "",
        )
        for scale in self.scales("dawm-t"):
            entries = self.entries("dawm-t", scale)
            body = []
            for cell in _variants("dawm-t", scale):
                task, _, _, ratio, _ = cell
                entry = entries.get(cell)
                if entry is None:
                    body.append([task, f"{ratio:g}x", self.reason(task), "", "", "0"])
                    continue
                self.notes.append(self.verdict(f"dawm-t ({scale}) {task} {ratio:g}x", entry))
                body.append(
                    [
                        task,
                        f"{ratio:g}x",
                        entry.text("real") + self.gpu(entry),
                        entry.text("dawm"),
                        entry.change(),
                        str(entry.n),
                    ]
                )
            self.add(f"Scale `{scale}`.", "")
            self.table(["task", "synthetic volume", "real", "real + DAWM", "Δ", "n"], body)
            self.command("dawm-t", scale)

    def idm_check(self) -> None:
        self.add(
            "## IDM check: held-out real vs generated transitions",
            "",
            "IDM action R² on held-out real episodes; generated transitions have no true "
            "action, so the simulator judges them: MuJoCo is set to the state, stepped with "
            "the action, and R² of s′ − s against the transition's next state is reported "
            "(pipeline `simcheck`). Flag: generated IDM steps more than 15% below real + IDM.",
            "",
        )
        header = [
            "task",
            "IDM action R² (held-out real)",
            "sim R² real + true a",
            "real + IDM a",
            "generated step 0 + real a",
            "generated + IDM a",
            "drop",
            "flag",
        ]
        for scale in self.scales("idm-check"):
            rows = {r["task"]: r for r in self.of("idm-check") if r["scale"] == scale}
            body = []
            for task in TASKS:
                row = rows.get(task)
                if row is None:
                    body.append([task, self.reason(task)] + [""] * 6)
                    continue
                idm, gen = row["idm"], row["generate"]
                real, fake = idm["sim_r2_idm_action"], gen["idm_sim_r2_generated"]
                drop = (real - fake) / abs(real) * 100 if real else float("nan")
                self.notes.append(
                    f"idm-check ({scale}) {task}: IDM held-out action R² "
                    f"{idm['heldout_action_r2']:.3f}; simulator R² real + IDM {real:.3f} vs "
                    f"generated {fake:.3f} ({drop:+.1f}% drop"
                    + (", flagged)" if gen["idm_drop_flag"] else ", within 15%)")
                )
                body.append(
                    [
                        task,
                        f"{idm['heldout_action_r2']:.3f}",
                        f"{idm['sim_r2_true_action']:.3f}",
                        f"{real:.3f}",
                        f"{gen['wm_sim_r2_step0']:.3f}",
                        f"{fake:.3f}",
                        f"{drop:.1f}%",
                        "> 15% drop" if gen["idm_drop_flag"] else "ok",
                    ]
                )
            self.add(f"Scale `{scale}`.", "")
            self.table(header, body)
            self.command("idm-check", scale)

    def stochastic(self) -> None:
        p = STOCHASTIC
        self.add(
            "## Stochastic dynamics: deterministic vs stochastic data and evaluation",
            "",
            "Design: the same task twice. Plain: the dataset as is, agents scored in the plain "
            "environment. Stochastic: the `-stochastic` dataset, regenerated with the same "
            "behaviour policies and seeds in a stochastic environment (Gymnasium wrapper "
            f"`dawm_pipeline.tasks.stochastic.StochasticDynamics`: Gaussian action noise σ = "
            f"{p.action_noise} on actions in [-1, 1], torso mass × {p.torso_mass_scale}), agents "
            "scored in that environment. Each is run real only and real + DAWM; the last "
            "column is how much more (negative) or less (positive) real + DAWM loses than real "
            "only when the dynamics become stochastic, paired by seed.",
            "",
        )
        for scale in self.scales("stochastic"):
            entries = self.entries("stochastic", scale)
            body, shown = [], set()
            for task, algo, h, ratio in self.stochastic_pairs(scale):
                plain_key = (task, algo, h, ratio, "deterministic")
                noisy_key = (stochastic_task(task), algo, h, ratio, "stochastic")
                shown |= {plain_key, noisy_key}
                row = [task, ALGO_NAMES[algo]]
                for key in (plain_key, noisy_key):
                    entry = entries.get(key)
                    if entry is None:
                        row += [self.reason(key[0]), "", ""]
                        continue
                    self.notes.append(
                        self.verdict(f"stochastic ({scale}) {key[0]} {ALGO_NAMES[algo]}", entry)
                    )
                    row += [
                        entry.text("real") + self.gpu(entry),
                        entry.text("dawm"),
                        entry.change(),
                    ]
                row += self.degradation(entries.get(plain_key), entries.get(noisy_key), scale)
                body.append(row)
            header = ["task", "algo", "plain: real", "plain: real + DAWM", "plain: Δ"]
            header += ["stochastic: real", "stochastic: real + DAWM", "stochastic: Δ"]
            header += ["real: stochastic − plain", "real + DAWM: stochastic − plain"]
            header += ["DAWM's change − real's", "n"]
            self.add(f"Scale `{scale}`. Normalized score, mean ± std over seeds.", "")
            self.table(header, body)
            rows = [r for r in self.of("stochastic") if r["scale"] == scale and r.get("algo")]
            self.command("stochastic", scale, [r for r in rows if variant(r) in shown])
            earlier = [r for r in rows if variant(r) not in shown]
            if earlier:
                self.add(
                    f"Not shown: {len(earlier)} earlier rows of this experiment from its first "
                    "design (evaluation-only perturbation: agents trained on plain data, scored "
                    "in the plain and the stochastic environment); they stay in the results file.",
                    "",
                )

    def stochastic_pairs(self, scale: str) -> list[tuple]:
        """(task, algo, H, ratio) of the planned cells and of every measured stochastic one."""
        pairs = {
            (c.task, c.algo, c.horizon, c.synthetic_ratio): None
            for c in plan("stochastic", scale)
            if c.eval_env == "deterministic"
        }
        for r in self.of("stochastic"):
            if r["scale"] == scale and r.get("algo") and r["task"].endswith(STOCHASTIC_SUFFIX):
                task = r["task"].removesuffix(STOCHASTIC_SUFFIX)
                pairs[(task, r["algo"], r["horizon"], float(r["synthetic_ratio"]))] = None
        return list(pairs)

    def degradation(self, plain: Entry | None, noisy: Entry | None, scale: str) -> list[str]:
        """Per-seed score change from plain to stochastic, real only and real + DAWM, and
        their difference; blanks unless both entries have the same seeds."""
        if plain is None or noisy is None:
            return ["", "", "", "0"]
        seeds = [r["seed"] for r in plain.rows]
        if seeds != [r["seed"] for r in noisy.rows]:
            return ["seeds differ", "", "", str(min(plain.n, noisy.n))]
        change = {c: noisy.scores(c) - plain.scores(c) for c in ("real", "dawm")}
        change["extra"] = change["dawm"] - change["real"]
        text = {c: f"{v.mean():+.1f} ± {v.std():.1f}" for c, v in change.items()}
        task, algo = plain.rows[0]["task"], ALGO_NAMES[plain.rows[0]["algo"]]
        self.notes.append(
            f"stochastic ({scale}) {task} {algo}: with stochastic dynamics real-only agents "
            f"changed by {text['real']} and real + DAWM agents by {text['dawm']}, so DAWM's "
            f"change minus real's is {text['extra']} (negative: DAWM degrades more)"
        )
        return [text["real"], text["dawm"], text["extra"], str(len(seeds))]

    def data_and_scale(self) -> None:
        self.add("## Data and scale", "")
        datasets = {}
        for row in self.rows:
            d = row["dataset"]
            datasets[(d["name"], d["fingerprint"])] = d
        if datasets:
            self.table(
                ["dataset", "source", "id", "transitions used", "fingerprint"],
                [
                    [
                        d["name"],
                        d["source_label"],
                        d["dataset_id"],
                        str(d["transitions"]),
                        str(d["fingerprint"])[:16],
                    ]
                    for d in datasets.values()
                ],
            )
        else:
            self.add("No cell has finished yet.", "")
        self.add(
            "`dawm/...` datasets are this project's own (its behaviour policies on Gymnasium "
            "v5, D4RL's recipe): they are not D4RL, and scores on them are not D4RL scores.",
            "",
        )
        used = {r["scale"] for r in self.rows} or {"cpu"}
        for name in SCALES:
            if name in used or name == "paper":
                self.add(f"- `--scale {name}`: {SCALES[name].description}.")
        settings = {}
        for row in self.rows:
            s = row.get("settings")
            if s and row.get("algo") is not None:
                key = (row["scale"], row["task"], row["horizon"], row["synthetic_ratio"])
                settings[key] = (s, row["generate"], row["stage_seconds"], row.get("device"))
        if settings:
            self.add("", "Measured settings and stage times per world model:", "")
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
            self.table(
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
        self.add("")

    def closing(self) -> None:
        self.add("## Closing note", "")
        if not self.notes:
            self.add("Nothing is measured yet: every row above is pending.", "")
            return
        self.add(
            'Generated from the tables above. "Helped" means DAWM beat real only on every '
            "seed; with 3 to 5 seeds and CPU-scale budgets that is weak evidence either way, and "
            "nothing here is a D4RL number.",
            "",
            f"Overall, over {sum(self.tally.values())} measured comparisons (every table entry "
            f"above, ablations included): DAWM helped on every seed in {self.tally['helped']}, "
            f"hurt on every seed in {self.tally['hurt']}, and was mixed in "
            f"{self.tally['mixed']}.",
            "",
        )
        self.add(*(f"- {note}" for note in self.notes), "")

    def reproduce(self) -> None:
        self.add(
            "## Reproduce",
            "",
            "```bash",
            f"{CMD} main --scale cpu                 # 9 tasks x TD3BC, IQL x 3 seeds",
            f"{CMD} main --scale cpu --tasks hopper-medium-replay --algos td3bc",
            f"{CMD} horizon --scale cpu",
            f"{CMD} dawm-t --scale cpu",
            f"{CMD} idm-check --scale cpu",
            f"{CMD} stochastic --scale cpu          # hopper-medium vs hopper-medium-stochastic",
            f"{CMD} all --scale paper --device cuda  # the paper's settings, on a GPU",
            f"{CMD} report                           # rewrite this file from the results",
            "```",
            "",
            "Every command resumes: finished cells (one line each in `docs/results/results."
            "jsonl`) are skipped, and an interrupted cell resumes from its stage checkpoints "
            "under `runs/experiments/`. Cells share the world model, IDM and generated data "
            "whenever their settings agree (TD3BC and IQL, every seed, main and the H = 7 / "
            "8x ablation cells).",
            "",
        )


def _variants(experiment: str, scale: str) -> list[tuple]:
    seen: dict[tuple, None] = {}
    for cell in plan(experiment, scale):
        seen[variant(cell)] = None
    return list(seen)


def _published(mean: float, std: float | None) -> str:
    """A published 0-1 score on our 0-100 scale, at the two digits the table printed."""
    text = f"{mean * paper.PER_TASK_SCALE:.0f}"
    return text if std is None else f"{text} ± {std * paper.PER_TASK_SCALE:.0f}"


def render(rows: list[dict[str, Any]], plot_dir: Path, plot_prefix: str, source: str) -> str:
    doc = _Doc(rows, plot_dir, plot_prefix)
    doc.add(
        "# Results: DAWM on this project's datasets",
        "",
        f"Written by `{CMD} report` from `{source}` "
        f"({len(doc.rows)} finished cells, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); "
        "regenerate it rather than editing it. Every number below is measured by this "
        "project, except the published figures, which are marked as such.",
        "",
    )
    doc.data_and_scale()
    for section in (doc.main, doc.horizon, doc.volume, doc.idm_check, doc.stochastic):
        section()
    doc.closing()
    doc.reproduce()
    return "\n".join(doc.lines).rstrip() + "\n"


def write_report(results: Path, doc_path: Path) -> Path:
    """Rewrite `doc_path` (and its plots in `<doc dir>/results/`) from the results file."""
    plot_dir = doc_path.parent / "results"
    text = render(ResultStore(results).rows(), plot_dir, "results/", str(results))
    write_text(doc_path, text)
    return doc_path


__all__ = ["EXPERIMENTS", "pending_reason", "render", "write_report"]
