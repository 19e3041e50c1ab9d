"""Deterministic vs stochastic dynamics table."""

from __future__ import annotations

from dawm_pipeline.experiments.doc.base import ALGO_NAMES, Doc
from dawm_pipeline.experiments.plan import plan, stochastic_task
from dawm_pipeline.experiments.summary import Entry, variant
from dawm_pipeline.tasks import STOCHASTIC, STOCHASTIC_SUFFIX


def stochastic(doc: Doc) -> None:
    p = STOCHASTIC
    scales = doc.scales("stochastic")
    if not scales:
        return
    doc.heading("Stochastic dynamics: deterministic vs stochastic data and evaluation")
    doc.add(
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
    for scale in scales:
        entries = doc.entries("stochastic", scale)
        body, shown = [], set()
        for task, algo, h, ratio in stochastic_pairs(doc, scale):
            plain_key = (task, algo, h, ratio, "deterministic")
            noisy_key = (stochastic_task(task), algo, h, ratio, "stochastic")
            shown |= {plain_key, noisy_key}
            row = [task, ALGO_NAMES[algo]]
            for key in (plain_key, noisy_key):
                entry = entries.get(key)
                if entry is None:
                    row += [doc.reason(key[0]), "", ""]
                    continue
                if not doc.from_main(entry):
                    label = f"stochastic ({scale}) {key[0]} {ALGO_NAMES[algo]}"
                    doc.notes.append(doc.verdict(label, entry))
                row += [
                    entry.text("real") + doc.gpu(entry),
                    entry.text("dawm"),
                    entry.change(),
                ]
            row += degradation(doc, entries.get(plain_key), entries.get(noisy_key), scale)
            body.append(row)
        header = ["task", "algo", "plain: real", "plain: real + DAWM", "plain: Δ"]
        header += ["stochastic: real", "stochastic: real + DAWM", "stochastic: Δ"]
        header += ["real: stochastic − plain", "real + DAWM: stochastic − plain"]
        header += ["DAWM's change − real's", "n"]
        doc.add(f"Scale `{scale}`. Normalized score, mean ± std over seeds.", "")
        doc.table(header, body)
        doc.command(
            "stochastic", scale, [r for k in shown if k in entries for r in entries[k].rows]
        )
        rows = [r for r in doc.of("stochastic") if r["scale"] == scale and r.get("algo")]
        earlier = [r for r in rows if variant(r) not in shown]
        if earlier:
            doc.add(
                f"Not shown: {len(earlier)} earlier rows of this experiment from its first "
                "design (evaluation-only perturbation: agents trained on plain data, scored "
                "in the plain and the stochastic environment); they stay in the results file.",
                "",
            )


def stochastic_pairs(doc: Doc, scale: str) -> list[tuple]:
    """(task, algo, H, ratio) of the planned cells and of every measured stochastic one."""
    pairs = {
        (c.task, c.algo, c.horizon, c.synthetic_ratio): None
        for c in plan("stochastic", scale)
        if c.eval_env == "deterministic"
    }
    for r in doc.of("stochastic"):
        if r["scale"] == scale and r.get("algo") and r["task"].endswith(STOCHASTIC_SUFFIX):
            task = r["task"].removesuffix(STOCHASTIC_SUFFIX)
            pairs[(task, r["algo"], r["horizon"], float(r["synthetic_ratio"]))] = None
    return list(pairs)


def degradation(doc: Doc, plain: Entry | None, noisy: Entry | None, scale: str) -> list[str]:
    """Per-seed score change from plain to stochastic, real only and real + DAWM, and
    their difference, over the seeds both entries have (the plain side is the main table's,
    which may hold more seeds)."""
    if plain is None or noisy is None:
        return ["", "", "", "0"]
    seeds = sorted({r["seed"] for r in plain.rows} & {r["seed"] for r in noisy.rows})
    if not seeds:
        return ["no seed in common", "", "", "0"]
    plain, noisy = (Entry([r for r in e.rows if r["seed"] in seeds]) for e in (plain, noisy))
    change = {c: noisy.scores(c) - plain.scores(c) for c in ("real", "dawm")}
    change["extra"] = change["dawm"] - change["real"]
    text = {c: f"{v.mean():+.1f} ± {v.std():.1f}" for c, v in change.items()}
    task, algo = plain.rows[0]["task"], ALGO_NAMES[plain.rows[0]["algo"]]
    doc.notes.append(
        f"stochastic ({scale}) {task} {algo}: with stochastic dynamics real-only agents "
        f"changed by {text['real']} and real + DAWM agents by {text['dawm']}, so DAWM's "
        f"change minus real's is {text['extra']} (negative: DAWM degrades more)"
    )
    return [text["real"], text["dawm"], text["extra"], str(len(seeds))]
