"""Experiments runner: cells, resumable results file, pending datasets, the results.md writer.

Runs the real pipeline at the tiny preset on a small self-made hopper dataset (random actions
in Hopper-v5, written as a D4RL hdf5 file), and on a tiny bundle (random policies) for the
stochastic experiment.
"""

import dataclasses
import json
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from dawm_pipeline.data import bundled
from dawm_pipeline.experiments import ResultStore, paper, plan, runner
from dawm_pipeline.experiments import doc as results_doc
from dawm_pipeline.experiments.cli import main
from dawm_pipeline.experiments.doc import base as doc_base
from dawm_pipeline.experiments.plan import PAPER_TASKS, SCALES, Cell, base_config, scale_settings
from dawm_pipeline.experiments.runner import (
    Sweep,
    cell_training_seconds,
    is_finished,
    row_key,
    row_keys,
    run_experiment,
)
from dawm_pipeline.stages.train_agent import curve_seed, training_seconds
from test_data import make_bundle

TASK = "hopper-medium-replay"


def _sweep(tmp_path, hopper_file, **extra):
    return Sweep(
        "tiny",
        tmp_path / "runs",
        tmp_path / "results.jsonl",
        {"sampler": "torch"},
        {TASK: hopper_file, **extra},
    )


def test_plan_crosses_tasks_algos_seeds_and_variants():
    cells = plan("main", "cpu")
    assert len(cells) == 12 * 2 * 3  # the paper's 9 locomotion tasks and Pusher's 3
    assert {c.task for c in cells} >= {"pusher-medium", "pusher-medium-replay"}
    assert {(c.horizon, c.synthetic_ratio) for c in cells} == {(7, 8.0)}
    horizons = plan("horizon", "cpu", tasks=(TASK,), seeds=(0,))
    assert [c.horizon for c in horizons] == [1, 3, 7]
    volume = plan("dawm-t", "cpu", tasks=(TASK,), seeds=(0,))
    assert [c.synthetic_ratio for c in volume] == [1.0, 8.0]
    idm = plan("idm-check", "cpu")
    assert len(idm) == 12 and all(c.algo is None and c.seed is None for c in idm)
    stoch = plan("stochastic", "cpu", algos=("td3bc", "iql"), seeds=(0, 1))
    assert len(stoch) == 2 * 2 * 2 * 2  # per task, algo and seed: plain and stochastic
    for algo in ("td3bc", "iql"):
        for seed in (0, 1):
            cells = [(c.task, c.eval_env) for c in stoch if (c.algo, c.seed) == (algo, seed)]
            assert cells == [
                ("hopper-medium", "deterministic"),
                ("hopper-medium-stochastic", "stochastic"),
                ("walker2d-medium", "deterministic"),
                ("walker2d-medium-stochastic", "stochastic"),
            ]
    with pytest.raises(ValueError, match="cannot be re-collected"):
        plan("stochastic", "cpu", tasks=(TASK,))


def test_an_ablations_own_variant_is_the_main_tables_cell(tmp_path, hopper_file):
    """H = 7, 8x and the plain env are the scale's own variant: the ablations plan (and so
    run, skip and store) the main table's cell there, not a copy that trains it again."""
    horizons = plan("horizon", "bench", tasks=(TASK,), seeds=(0,))
    assert [(c.horizon, c.experiment) for c in horizons] == [
        (1, "horizon"), (3, "horizon"), (7, "main")
    ]  # fmt: skip
    volume = plan("dawm-t", "bench", tasks=(TASK,), seeds=(0,))
    assert [(c.synthetic_ratio, c.experiment) for c in volume] == [(1.0, "dawm-t"), (8.0, "main")]
    stoch = plan("stochastic", "bench", tasks=("hopper-medium",), seeds=(0,))
    assert [(c.eval_env, c.experiment) for c in stoch] == [
        ("deterministic", "main"), ("stochastic", "stochastic")
    ]  # fmt: skip
    main_cell = plan("main", "bench", tasks=(TASK,), algos=("td3bc",), seeds=(0,))[0]
    assert horizons[2] == volume[1] == main_cell
    assert all(c.experiment == "idm-check" for c in plan("idm-check", "bench"))
    sweep = _sweep(tmp_path, hopper_file)
    assert row_key(sweep, horizons[2]) == row_key(sweep, main_cell)


def test_a_cell_finished_the_other_way_batched_or_alone_is_not_trained_again(
    tmp_path, hopper_file, monkeypatch
):
    """Rows made seed-batched (a GPU's way) count for a sweep that runs seeds alone, and the
    other way round: the keys differ, the cell is the same."""
    sweep = _sweep(tmp_path, hopper_file)
    batched = dataclasses.replace(sweep, batch_seeds=True)
    cells = plan("main", "tiny", tasks=(TASK,), algos=("td3bc",), seeds=(0, 1))
    assert row_key(batched, cells[0]) != row_key(sweep, cells[0])
    store = ResultStore(sweep.results)
    store.append({"experiment": "main", "key": row_key(batched, cells[0])})
    store.append({"experiment": "main", "key": row_key(sweep, cells[1])})
    for way in (sweep, batched):
        counts = run_experiment("main", way, tasks=(TASK,), algos=("td3bc",), seeds=(0, 1))
        assert counts == {"done": 0, "skipped": 2, "pending": 0}
    assert not (tmp_path / "runs").exists()  # no stage ran
    finished = store.keys()
    third = plan("main", "tiny", tasks=(TASK,), algos=("td3bc",), seeds=(2,))[0]
    h1 = plan("horizon", "tiny", tasks=(TASK,), algos=("td3bc",), seeds=(0,))[0]
    assert not is_finished(sweep, third, finished) and not is_finished(batched, h1, finished)
    models = plan("idm-check", "tiny", tasks=(TASK,))[0]
    assert row_keys(batched, models) == {row_key(sweep, models)}  # no agents: one key
    # a batched sweep of seeds 0-2 sends only the unfinished seed on
    sent = []
    monkeypatch.setattr(runner, "run_cells", lambda sweep, todo: sent.append(todo) or [])
    run_experiment("main", batched, tasks=(TASK,), algos=("td3bc",), seeds=(0, 1, 2))
    assert [[c.seed for c in todo] for todo in sent] == [[2]]


def test_ablation_tables_show_the_main_tables_entry_once(tmp_path, monkeypatch):
    monkeypatch.setattr(doc_base, "pending_reason", lambda task: "pending: not run")
    rows = [_row(TASK, "td3bc", s, 20.0 + s, 30.0 + s) for s in range(3)]
    rows += [_row(TASK, "td3bc", s, 20.0, 10.0, "horizon", horizon=1) for s in range(2)]
    plain, noisy = "hopper-medium", "hopper-medium-stochastic"
    rows += [_row(plain, "td3bc", s, 40.0, 40.0 + s) for s in range(3)]
    rows += [_row(noisy, "td3bc", s, 30.0, 35.0, "stochastic", env="stochastic") for s in (1, 2)]
    bench = {
        "scale": "bench", "settings": scale_settings(base_config("bench")), "model_dir": "wm",
        "agent_seconds": 1.0, "generate": {"transitions": 8},
        "stage_seconds": {"train-wm": 1.0, "train-idm": 1.0, "generate": 1.0},
    }  # fmt: skip
    rows = [r | bench for r in rows]
    doc = results_doc.render(rows, tmp_path, "results/", "r.jsonl")
    horizon = doc[doc.index("## Horizon ablation") : doc.index("## DAWM-T")]
    assert f"| {TASK} | 7 | 21.0 ± 0.8 | 31.0 ± 0.8 | +47.6% (3/3 seeds) | 3 |" in horizon
    assert f"horizon --scale bench --tasks {TASK} --algos td3bc --seeds 0 1 2`" in horizon
    volume = doc[doc.index("## DAWM-T") : doc.index("## IDM check")]
    assert f"| {TASK} | 8x | 21.0 ± 0.8 | 31.0 ± 0.8 | +47.6% (3/3 seeds) | 3 |" in volume
    # the main table's entries are counted once: main TASK, main hopper-medium, H=1, stochastic
    assert "over 4 measured comparisons" in doc
    assert "H=7" not in doc and "volume=8x" not in doc
    line = next(ln for ln in doc.splitlines() if ln.startswith("| hopper-medium | TD3BC |"))
    # plain is the main table's 3 seeds; stochastic − plain pairs the 2 seeds both have
    assert line.startswith("| hopper-medium | TD3BC | 40.0 ± 0.0 | 41.0 ± 0.8 |")
    assert line.endswith("| -10.0 ± 0.0 | -6.5 ± 0.5 | +3.5 ± 0.5 | 2 |")
    # H = 7 rows of the ablation's own, from before the sharing: one of today's settings stays
    # (seed 0: 50 / 50), one of earlier settings gives way to the main table's (seed 1: 21 / 31;
    # seed 2 is main's alone: 22 / 32)
    own = _row(TASK, "td3bc", 0, 50.0, 50.0, "horizon") | bench
    stale = _row(TASK, "td3bc", 1, 99.0, 99.0, "horizon") | bench
    stale["settings"] = bench["settings"] | {"wm_dim": 16}
    doc = results_doc.render([*rows, own, stale], tmp_path, "results/", "r.jsonl")
    horizon = doc[doc.index("## Horizon ablation") : doc.index("## DAWM-T")]
    assert f"| {TASK} | 7 | 31.0 ± 13.4 | 37.7 ± 8.7 | +21.5% (2/3 seeds) | 3 |" in horizon
    assert "over 4 measured comparisons" in doc  # an entry holding main rows: no second verdict


def test_bench_runs_three_seeds_on_medium_expert_unless_seeds_are_named():
    seeds = defaultdict(set)
    for c in plan("main", "bench"):
        seeds[c.task].add(c.seed)
    for task, got in seeds.items():
        assert got == ({0, 1, 2} if task.endswith("-medium-expert") else {0, 1, 2, 3, 4}), task
    named = plan("main", "bench", tasks=("hopper-medium-expert",), seeds=(0, 1, 2, 3, 4))
    assert {c.seed for c in named} == {0, 1, 2, 3, 4}
    assert "5 seeds (3 on medium-expert)" in SCALES["bench"].description


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["bogus"], "unknown experiment 'bogus'"),
        (["main", "--scale", "huge"], "unknown scale 'huge'"),
        (["main", "--tasks", "ant-medium"], "unknown task 'ant-medium'"),
        (["main", "--dataset-path", "nonsense"], "TASK=FILE"),
        (["main", "--seeds", "x"], "invalid int value"),
        (["main", "--launcher", "slurm"], "invalid choice: 'slurm'"),
        (["main", "--ray-address", "auto"], "--ray-address is for --launcher ray"),
        (
            ["main", "--batch-seeds", "--launcher", "ray"],
            "--batch-seeds runs with --launcher local",
        ),
        (["main", "--scale", "tiny", "--cuda-graph"], "--cuda-graph needs --device cuda"),
    ],
    ids=[
        "unknown-experiment",
        "unknown-scale",
        "unknown-task",
        "dataset-path-without-task",
        "seeds-text",
        "unknown-launcher",
        "ray-address-without-ray",
        "batch-seeds-under-ray",
        "cuda-graph-on-cpu",
    ],
)
def test_bad_input_is_one_error_line(argv, needle, tmp_path, capsys):
    out = ["--results", str(tmp_path / "r.jsonl"), "--doc", str(tmp_path / "r.md")]
    assert main([*argv, *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dawm_pipeline.experiments: error:")
    assert needle in err[0]


def test_sweep_appends_skips_resumes_and_shares_the_model(tmp_path, hopper_file):
    sweep = _sweep(tmp_path, hopper_file)
    seen = []

    def interrupt_after_first(row):
        seen.append(row)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_experiment(
            "main",
            sweep,
            tasks=(TASK,),
            algos=("td3bc",),
            seeds=(0, 1),
            on_row=interrupt_after_first,
        )
    store = ResultStore(sweep.results)
    assert len(store.rows()) == 1  # the finished cell is on disk before the interrupt
    counts = run_experiment("main", sweep, tasks=(TASK,), algos=("td3bc",), seeds=(0, 1))
    assert counts == {"done": 1, "skipped": 1, "pending": 0}
    rows = store.rows()
    assert [r["seed"] for r in rows] == [0, 1]
    assert rows[0]["model_dir"] == rows[1]["model_dir"]  # one world model for both seeds
    assert rows[0]["agent_dir"] != rows[1]["agent_dir"]
    for row in rows:
        assert set(row["scores"]) == {"real", "dawm"}
        assert all(np.isfinite(v) for v in row["scores"].values())
        assert row["dataset"]["source_label"] and row["dataset"]["fingerprint"]
        assert row["generate"]["transitions"] > 0 and row["curves"]["dawm"]
        assert row["versions"]["torch"] and row["wall_s"] > 0
        # the agents' update time over every session: the two jobs' cumulative elapsed_s
        want = sum(
            training_seconds(Path(row["agent_dir"]), "td3bc", row["seed"], c)
            for c in ("real", "dawm")
        )
        assert row["agent_seconds"] == pytest.approx(want, abs=0.1) and want > 0
        assert row["real_agent_reused_from"] is None  # both agents trained in the cell
    # a rerun is a no-op: nothing run, the file unchanged
    before = sweep.results.read_text()
    again = run_experiment("main", sweep, tasks=(TASK,), algos=("td3bc",), seeds=(0, 1))
    assert again == {"done": 0, "skipped": 2, "pending": 0}
    assert sweep.results.read_text() == before


def test_batched_seeds_give_one_row_per_seed_and_resume(tmp_path, hopper_file):
    sweep = dataclasses.replace(_sweep(tmp_path, hopper_file), batch_seeds=True)
    kw = dict(tasks=(TASK,), algos=("td3bc",), seeds=(0, 1))
    assert run_experiment("main", sweep, **kw) == {"done": 2, "skipped": 0, "pending": 0}
    rows = ResultStore(sweep.results).rows()
    assert [r["seed"] for r in rows] == [0, 1]
    assert rows[0]["agent_dir"] == rows[1]["agent_dir"]  # one batched train-agent stage
    assert all(r["settings"]["agent_batched_seeds"] == [0, 1] for r in rows)
    batch = training_seconds(Path(rows[0]["agent_dir"]), "td3bc", 0, "real")
    assert [r["agent_seconds"] for r in rows] == [round(batch / 2, 1)] * 2  # shared out
    assert rows[0]["scores"] != rows[1]["scores"] and rows[0]["curves"]["real"]
    (evaluated,) = (tmp_path / "runs" / TASK / "stages").glob("evaluate-*/scores.json")
    scores = json.loads(evaluated.read_text())
    for row in rows:  # each seed's row holds its own jobs' scores
        for cond in ("real", "dawm"):
            job = scores["jobs"][f"td3bc-{cond}-seed{row['seed']}"]
            assert row["scores"][cond] == job["normalized_mean"]
    again = run_experiment("main", sweep, **kw)
    assert again == {"done": 0, "skipped": 2, "pending": 0}
    # a row's key is its own: a later sweep with one more seed runs only that seed
    more = run_experiment("main", sweep, **(kw | {"seeds": (0, 1, 2)}))
    assert more == {"done": 1, "skipped": 2, "pending": 0}
    assert [r["seed"] for r in ResultStore(sweep.results).rows()] == [0, 1, 2]


def test_evaluation_workers_give_batched_cells_the_same_curves(tmp_path, hopper_file, monkeypatch):
    import offline_agents

    calls = []
    real_evaluate_members = offline_agents.evaluate_members

    def spy(*args, **kw):
        calls.append((list(args[2]), kw["workers"]))
        return real_evaluate_members(*args, **kw)

    monkeypatch.setattr(offline_agents, "evaluate_members", spy)
    kw = dict(tasks=(TASK,), algos=("td3bc",), seeds=(0, 1))
    curves = []
    for workers in (1, 2):
        sweep = dataclasses.replace(_sweep(tmp_path / str(workers), hopper_file), batch_seeds=True)
        sweep.overrides["eval_workers"] = workers
        run_experiment("main", sweep, **kw)
        curves.append([r["curves"] for r in ResultStore(sweep.results).rows()])
    assert curves[0] == curves[1] and curves[0][0]["real"]
    # members in the batch's order (seed 0 real, seed 0 DAWM, seed 1 ...) with their curve seeds
    want = [curve_seed(s) for s in (0, 0, 1, 1)]
    assert {(tuple(seeds), w) for seeds, w in calls} == {(tuple(want), 1), (tuple(want), 2)}


def test_stochastic_experiment_collects_and_scores_in_the_stochastic_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.setattr(bundled, "BUNDLE_DIR", make_bundle(tmp_path, False, transitions=400))
    sweep = Sweep("tiny", tmp_path / "runs", tmp_path / "results.jsonl", {"sampler": "torch"})
    assert run_experiment("stochastic", sweep, ("hopper-medium",), seeds=(0,)) == {
        "done": 2,
        "skipped": 0,
        "pending": 0,
    }
    rows = {r["eval_env"]: r for r in ResultStore(sweep.results).rows()}
    plain, noisy = rows["deterministic"], rows["stochastic"]
    assert (plain["task"], noisy["task"]) == ("hopper-medium", "hopper-medium-stochastic")
    assert noisy["dataset"]["dataset_id"] == "dawm/hopper/medium-stochastic-v0"
    assert "stochastic dynamics (action noise 0.1" in noisy["dataset"]["source_label"]
    assert noisy["dataset"]["fingerprint"] != plain["dataset"]["fingerprint"]
    assert noisy["perturbation"]["torso_mass_scale"] == 1.25 and "perturbation" not in plain
    assert noisy["model_dir"] != plain["model_dir"]
    env_ids = [
        json.loads((Path(r["stage_dirs"]["data"]) / "done.json").read_text())["summary"]["dataset"][
            "env_id"
        ]
        for r in (plain, noisy)
    ]
    assert env_ids == ["Hopper-v5", "dawm/StochasticHopper-v5"]  # data and evaluation env
    for row in (plain, noisy):
        assert all(np.isfinite(v) for v in row["scores"].values())


def test_missing_dataset_is_pending_not_fatal(tmp_path, hopper_file):
    sweep = _sweep(tmp_path, hopper_file, **{"hopper-medium": str(tmp_path / "absent.hdf5")})
    counts = run_experiment("idm-check", sweep, tasks=("hopper-medium", TASK))
    assert counts == {"done": 1, "skipped": 0, "pending": 1}
    rows = ResultStore(sweep.results).rows()
    assert [r["task"] for r in rows] == [TASK]
    assert -1 <= rows[0]["idm"]["sim_r2_true_action"] <= 1.0001
    doc = results_doc.render(rows, tmp_path, "results/", "r.jsonl")
    fidelity = doc.split("Velocity-based checks")[-1]  # the archive part holds the tiny row
    line = next(ln for ln in fidelity.splitlines() if ln.startswith(f"| {TASK} |"))
    assert f"{rows[0]['generate']['wm_action_sensitivity']:.2f}" in line  # the new metrics
    assert "| hopper-medium | pending" in fidelity
    # a row from before the at-bound check, and a later cell of the same generate stage that
    # recorded it: the table fills the check in and keeps what the row itself measured
    older = json.loads(json.dumps(rows[0]))
    for key in ("idm_at_bound_generated", "real_at_bound"):
        older["generate"].pop(key, None)
    for key in ("idm_at_bound_real", "recorded_at_bound_heldout"):
        older["idm"].pop(key, None)
    later = json.loads(json.dumps(rows[0])) | {"experiment": "main", "key": "later"}
    later["generate"] |= {"idm_at_bound_generated": 0.25, "wm_action_sensitivity": 9.0}
    later["idm"] |= {"idm_at_bound_real": 0.125, "recorded_at_bound_heldout": 0.0625}
    doc = results_doc.render([older, later], tmp_path, "results/", "r.jsonl")
    fidelity = doc.split("Velocity-based checks")[-1]
    line = next(ln for ln in fidelity.splitlines() if ln.startswith(f"| {TASK} |"))
    assert line.endswith("| 25.0% / 12.5% / 6.2% |")
    assert f"| {rows[0]['generate']['wm_action_sensitivity']:.2f} |" in line


def _row(
    task, algo, seed, real, dawm, experiment="main", horizon=7, ratio=8.0, env="deterministic"
):
    return {
        "experiment": experiment, "key": f"{experiment}{task}{algo}{seed}{horizon}{ratio}{env}",
        "task": task, "algo": algo, "seed": seed, "horizon": horizon,
        "synthetic_ratio": ratio, "eval_env": env, "scale": "cpu",
        "scores": {"real": real, "dawm": dawm},
        "curves": {"real": [[0, 1.0], [10, real]], "dawm": [[0, 1.0], [10, dawm]]},
        "dataset": {"name": task, "source_label": "dawm (ours)", "dataset_id": "x",
                    "fingerprint": "abc", "transitions": 10},
        "device": "cpu",
    }  # fmt: skip


def test_writer_tables_pending_rows_and_plots(tmp_path, monkeypatch):
    monkeypatch.setattr(
        doc_base, "pending_reason",
        lambda task: "pending: not run" if task.startswith("hopper") else
        "pending: dataset not built",
    )  # fmt: skip
    stale = _row(TASK, "td3bc", 0, 99.0, 99.0) | {"key": "older settings"}
    rows = [stale] + [_row(TASK, "td3bc", s, 20.0 + s, 30.0 + s) for s in range(3)]
    rows += [_row(TASK, "td3bc", s, 20.0, 10.0, "horizon", horizon=1) for s in range(2)]
    rows += [_row("hopper-medium", "td3bc", s, 20.0, 30.0, "stochastic") for s in range(2)]
    noisy = "hopper-medium-stochastic"
    rows += [
        _row(noisy, "td3bc", s, 10.0 + s, 25.0, "stochastic", env="stochastic") for s in range(2)
    ]
    rows += [_row(TASK, "td3bc", 0, 5.0, 5.0, "stochastic", env="stochastic")]  # first design
    rows += [_row(TASK, "td3bc", 3, 23.0, 33.0) | {"device": "cuda"}]  # an extra seed on a GPU
    store = ResultStore(tmp_path / "r.jsonl")
    for row in rows:
        store.append(row)
    doc = results_doc.write_report(store.path, tmp_path / "results.md").read_text()
    lines = doc.splitlines()
    main_line = next(line for line in lines if line.startswith(f"| {TASK} |") and "4/4" in line)
    # the stale row of seed 0 is superseded; seed 3 (GPU) joins the entry, marked †
    assert "| 21.5 ± 1.1 † | 31.5 ± 1.1 |" in main_line
    assert "+46.5% (4/4 seeds)" in main_line
    assert "| walker2d-medium | pending: dataset not built" in doc
    # the data table names the cells that used each dataset build, by scale
    data_line = next(line for line in lines if line.startswith(f"| {TASK} | dawm (ours)"))
    assert data_line.endswith("| abc | 7 (cpu) |")  # the superseded row is not counted
    assert "| hopper-medium | pending: not run" in doc
    assert "| hopper-medium-replay | 1 | 20.0 ± 0.0 | 10.0 ± 0.0 | -50.0% (0/2 seeds) | 2 |" in doc
    # the cpu rows sit in the archive, below the headline's pending bench tables
    assert "## Archive: the cpu scale" in doc and "### Main table" in doc
    stoch_line = [line for line in lines if line.startswith("| hopper-medium | TD3BC |")][-1]
    assert stoch_line.startswith("| hopper-medium | TD3BC | 20.0 ± 0.0 | 30.0 ± 0.0 |")
    # stochastic − plain: real -9.5, DAWM -5.0; DAWM's change − real's +4.5 (loses less)
    assert stoch_line.endswith("| -9.5 ± 0.5 | -5.0 ± 0.0 | +4.5 ± 0.5 | 2 |")
    assert "Not shown: 1 earlier rows" in doc
    assert (
        "experiments stochastic --scale cpu --tasks hopper-medium --algos td3bc --seeds 0 1`" in doc
    )
    cmd = "experiments main --scale cpu --tasks hopper-medium-replay --algos td3bc --seeds 0 1 2`"
    assert cmd in doc
    gpu_cmd = "--tasks hopper-medium-replay --algos td3bc --seeds 3 --device cuda`"
    assert "Measured rows on a GPU (†)" in doc and gpu_cmd in doc
    assert "DAWM helped on every seed" in doc and "DAWM hurt on every seed" in doc
    assert "not ours" in doc  # the published numbers are marked as other data
    for png in ("main_bars_cpu.png", "curves_cpu.png", "horizon_cpu.png"):
        assert (tmp_path / "results" / png).stat().st_size > 1000


def test_compute_section_sums_the_rows_and_costs_what_is_left(tmp_path, monkeypatch):
    monkeypatch.setattr(doc_base, "pending_reason", lambda task: "pending: not run")
    today = scale_settings(base_config("bench"))

    def row(seed, settings, model, **extra):
        stages = {"data": 1.0, "train-wm": 1000.0, "train-idm": 500.0, "generate": 100.0}
        dirs = {s: f"{model}/{s}" for s in stages}
        return _row(TASK, "td3bc", seed, 20.0, 21.0) | {
            "scale": "bench", "key": f"{model}{seed}", "model_dir": model, "settings": settings,
            "stage_seconds": stages, "stage_dirs": dirs, "wall_s": 9999.0,
            "generate": {"transitions": 8}, **extra,
        }  # fmt: skip

    old = today | {"wm_dim": 16}
    rows = [row(s, today, "wm-a", agent_seconds=600.0 + 100 * s) for s in range(3)]
    rows.append(row(3, today, "wm-a"))  # written before agent_seconds: its wall time counts
    rows.append(row(0, old, "wm-old", agent_seconds=50.0))  # earlier settings
    rows.append(row(4, today, "wm-gpu", device="cuda"))  # done on a GPU: not costed, not left
    # a cell whose real-only agent was copied trained one agent: not a cell's price
    copied = row(5, today, "wm-a", agent_seconds=10.0, real_agent_reused_from="elsewhere")
    rows.append(copied | {"experiment": "dawm-t", "synthetic_ratio": 1.0})
    # a main cell that copied its real-only agent (an ablation ran first): not in the median
    rows.append(row(6, today, "wm-a", agent_seconds=20.0, real_agent_reused_from="elsewhere"))
    doc = results_doc.render(rows, tmp_path, "results/", "r.jsonl")
    part = doc[doc.index("### Compute at the bench scale") :]
    dim = today["wm_dim"]
    assert f"| {TASK} | {dim} | 1,000 s | 500 s | 100 s | 6 | 650 s |" in part  # one model
    assert f"| {TASK} | 16 | 1,000 s | 500 s | 100 s | 1 | 50 s |" in part
    # 2 x 1,600 s of model stages + 600 + 700 + 800 + 9,999 + 50 + 10 + 20 s of cells
    assert f"Measured so far: {(3200 + 2130 + 9999 + 50) / 3600:.1f} h of one core." in part
    # 2 x (8 tasks x 5 seeds + 4 medium-expert x 3) = 104 planned cells - 5 done with today's
    # settings (one on a GPU); 11 tasks without a model
    assert "Left of the main table at this scale: 99 cells." in part
    # each of a cell's two agents at half the median cell (750 s) that trained both
    assert (
        "(11 world models at 1,600 s each; 47 TD3BC cells training 94 agents at 375 s each)" in part
    )
    assert f"{(11 * 1600 + 94 * 375) / 3600:.1f} h of one core" in part
    assert "not counted: 52 IQL cells (none measured yet)." in part
    # the ablations' own cells: horizon H 1 and 3 (3 tasks x 2 x 5 seeds), dawm-t 1x (3 x 5),
    # stochastic's stochastic side (2 tasks x 5), idm-check's 12 models; their H = 1 and 3
    # models (6) and the stochastic tasks' (2) are new, every other one is the main table's
    # (dawm-t's seed 5 is not a planned cell: dawm-t still has its 15 left)
    others = "Left of the other experiments: 67 cells (horizon 30, dawm-t 15, idm-check 12, "
    assert others + "stochastic 10)." in part
    # horizon and dawm-t copy the main table's real-only agents made on a CPU, not seed 4's,
    # made on a lent GPU whose stage folders are gone (one more agent); the stochastic data's
    # 10 cells train their own
    assert (
        "(8 world models at 1,600 s each; 55 TD3BC cells training 66 agents at 375 s each)" in part
    )
    # TASK's model (trained on this machine) serves cells still left: a new machine retrains it
    assert "On a new machine, 1 world model already trained for cells still left" in part
    assert f"{1600 / 3600:.1f} h of one core more." in part


def test_width_section_sets_world_model_widths_side_by_side(tmp_path, monkeypatch):
    monkeypatch.setattr(doc_base, "pending_reason", lambda task: "pending: not run")

    def row(seed, dim, real, dawm, r2):
        return _row(TASK, "td3bc", seed, real, dawm) | {
            "scale": "bench", "key": f"{dim}-{seed}-{dawm}",
            "settings": scale_settings(base_config("bench")) | {"wm_dim": dim},
            "generate": {"wm_velocity_r2": r2, "transitions": 8}, "model_dir": f"wm{dim}",
            "agent_seconds": 1.0,
            "stage_seconds": {"train-wm": 1.0, "train-idm": 1.0, "generate": 1.0},
        }  # fmt: skip

    today = base_config("bench").wm.dim
    assert today != 32
    rows = [row(s, 32, 20.0, 21.0 + s, 0.83) for s in range(2)]
    doc = results_doc.render(rows, tmp_path, "results/", "r.jsonl")
    assert "World-model width" not in doc  # one width only: nothing to compare
    rows += [row(s, today, 20.0, 25.0, 0.92) for s in range(3)]
    rows.append(row(0, 32, 20.0, 99.0, 0.83))  # a sweep of the old settings finished late
    doc = results_doc.render(rows, tmp_path, "results/", "r.jsonl")
    part = doc[doc.index("### World-model width at the bench scale") :]
    assert (
        f"| {TASK} | TD3BC | 32 | 0.830 | 20.0 ± 0.0 | 60.5 ± 38.5 | +202.5% (2/2 seeds) | 2 |"
        in part
    )  # its seed 0 from the late row
    assert (
        f"| {TASK} | TD3BC | {today} | 0.920 | 20.0 ± 0.0 | 25.0 ± 0.0 | +25.0% (3/3 seeds) | 3 |"
        in part
    )
    main_line = next(ln for ln in doc.splitlines() if ln.startswith(f"| {TASK} | 20.0"))
    assert "| 25.0 ± 0.0 |" in main_line  # today's settings win, whenever the rows came


def test_budget_section_says_whether_agents_still_learned_at_the_end(tmp_path, monkeypatch):
    monkeypatch.setattr(doc_base, "pending_reason", lambda task: "pending: not run")

    def row(seed, real, dawm):
        steps = range(5_000, 105_000, 5_000)  # 20 evaluations, as the bench's
        return _row(TASK, "td3bc", seed, 0.0, 0.0) | {
            "scale": "bench", "key": f"budget{seed}",
            "settings": scale_settings(base_config("bench")), "generate": {"transitions": 8},
            "stage_seconds": {"train-wm": 1.0, "train-idm": 1.0, "generate": 1.0},
            "model_dir": "wm", "agent_seconds": 1.0,
            "curves": {"real": [[s, real(s)] for s in steps],
                       "dawm": [[s, dawm(s)] for s in steps]},
        }  # fmt: skip

    # real only rises on both seeds (by 10 and 20 between the windows); DAWM falls on seed 0
    # and rises on seed 1; a short curve (a run of another budget) has no windows
    rows = [
        row(0, lambda s: 10.0 * (s > 75_000), lambda s: 30.0 - 4 * (s > 75_000)),
        row(1, lambda s: 20.0 * (s > 75_000), lambda s: 30.0 + 2 * (s > 75_000)),
    ]
    doc = results_doc.render(rows, tmp_path, "results/", "r.jsonl")
    part = doc[doc.index("### Still learning at the end of the bench budget?") :]
    assert (
        f"| {TASK} | TD3BC | 55k-75k → 80k-100k | 0.0 → 15.0 (+15.0) | 2 up / 0 down of 2 "
        "| 30.0 → 29.0 (-1.0) | 1 up / 1 down of 2 | 2 |" in part
    )
    short = row(0, lambda s: 1.0, lambda s: 1.0)
    short["curves"] = {c: v[:9] for c, v in short["curves"].items()}
    doc = results_doc.render([short], tmp_path, "results/", "r.jsonl")
    assert "Still learning at the end" not in doc


def test_early_section_judges_the_first_evaluations_by_the_tables_rule(tmp_path, monkeypatch):
    monkeypatch.setattr(doc_base, "pending_reason", lambda task: "pending: not run")
    steps = range(5_000, 105_000, 5_000)

    def row(seed, dawm_early):  # DAWM leads until 25k, then real only does (a seed's offset)
        curve = {
            "real": [[s, 40.0 + seed] for s in steps],
            "dawm": [[s, (dawm_early if s <= 25_000 else 30.0) + seed] for s in steps],
        }
        return _row(TASK, "td3bc", seed, 40.0 + seed, 30.0 + seed) | {
            "scale": "bench", "key": f"early{seed}{dawm_early}", "curves": curve,
            "settings": scale_settings(base_config("bench")), "generate": {"transitions": 8},
            "stage_seconds": {"train-wm": 1.0, "train-idm": 1.0, "generate": 1.0},
            "model_dir": "wm", "agent_seconds": 1.0,
        }  # fmt: skip

    doc = results_doc.render([row(0, 50.0), row(1, 50.0)], tmp_path, "results/", "r.jsonl")
    part = doc[doc.index("### Early in training: the first 5 evaluations (bench)") :]
    assert (
        f"| {TASK} | TD3BC | 5k-25k | 40.5 | 50.5 | +24.7% (2/2 seeds) | ahead on every seed "
        "| -24.7% (0/2 seeds) | 2 |" in part
    )
    assert "- early: real + DAWM ahead on every seed in 1 of 1 entries, behind" in part
    assert "- at the end (the table's score): real + DAWM ahead on every seed in 0 of 1 " in part
    # mixed early (ahead on one seed only); a curve too short for the first window to end
    # before the score's last one begins (7 < 2 x 5 points) is left out, on both sides
    short = row(2, 50.0)
    short["curves"] = {c: v[:7] for c, v in short["curves"].items()}
    doc = results_doc.render([row(0, 50.0), row(1, 35.0), short], tmp_path, "r/", "r.jsonl")
    part = doc[doc.index("### Early in training") :]
    assert (
        "| 40.5 | 43.0 | +6.2% (1/2 seeds) | no consistent difference | -24.7% (0/2 seeds) | 2 |"
        in part
    )


def test_published_per_task_table_is_complete_and_rendered_apart(tmp_path, monkeypatch):
    assert set(paper.PER_TASK) == set(PAPER_TASKS)
    assert all(set(cells) == set(paper.PER_TASK_METHODS) for cells in paper.PER_TASK.values())
    # a transcription check: each column averages to the 9-task average the paper prints
    printed = {"TD3+BC": 0.693, "DWM-TD3BC": 0.679, "IQL": 0.601, "DWM-IQL": 0.641, "DD": 0.677}
    for method, average in printed.items():
        mean = sum(paper.PER_TASK[t][method][0] for t in PAPER_TASKS) / len(PAPER_TASKS)
        assert mean == pytest.approx(average, abs=0.0015), method
    monkeypatch.setattr(doc_base, "pending_reason", lambda task: "pending: not run")
    doc = results_doc.render([], tmp_path, "results/", "r.jsonl")
    published = doc[doc.index("### Published numbers (D4RL data, not ours)") :]
    published = published[: published.index("\n## ")]
    assert "| task (D4RL, not ours) | TD3+BC | DWM-TD3BC | IQL | DWM-IQL | DD |" in published
    assert "| hopper-medium-replay | 53 ± 19 | 53 ± 9 | 25 ± 2 | 61 ± 13 | 66 ± 15 |" in published
    assert "pending" not in published  # none of our cells inside the published section


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the paper scale would run")
def test_paper_scale_without_gpu_says_how_to_run_it(tmp_path, capsys):
    out = ["--results", str(tmp_path / "r.jsonl"), "--doc", str(tmp_path / "r.md")]
    assert main(["main", "--scale", "paper", "--tasks", TASK, *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device cpu" in err[0]
    assert not (tmp_path / "r.jsonl").exists()


def test_sanity_section_sets_real_only_against_the_datas_level(tmp_path, monkeypatch):
    import importlib

    # the package re-exports the section function under the module's name: fetch the module
    sanity_doc = importlib.import_module("dawm_pipeline.experiments.doc.sanity")

    monkeypatch.setattr(doc_base, "pending_reason", lambda task: "pending: not run")
    levels = {"hopper-medium": (41.6, "fp-hopper"), "walker2d-medium": (61.5, "fp-walker")}
    monkeypatch.setattr(sanity_doc, "data_level", levels.get)
    settings = scale_settings(base_config("bench"))

    def row(task, seed, real, fingerprint):
        r = _row(task, "td3bc", seed, real, real + 1.0)
        r["dataset"] = r["dataset"] | {"fingerprint": fingerprint}
        return r | {
            "scale": "bench", "key": f"{task}{seed}{fingerprint}", "settings": settings,
            "generate": {"transitions": 8}, "agent_seconds": 1.0, "model_dir": f"wm-{task}",
            "stage_seconds": {"train-wm": 1.0, "train-idm": 1.0, "generate": 1.0},
        }  # fmt: skip

    rows = [row("hopper-medium", s, real, "fp-hopper") for s, real in enumerate((40.0, 50.0))]
    rows += [row("walker2d-medium", s, 30.0, "fp-walker") for s in range(2)]
    rows += [row("hopper-medium-replay", 0, 5.0, "fp-hopper")]  # not a medium dataset
    doc = results_doc.render(rows, tmp_path, "results/", "r.jsonl")
    part = doc[doc.index("### Sanity check at the bench scale") :].split("\n### ")[0]
    assert "| hopper-medium | TD3BC | 41.6 | 45.0 | 1/2 (5 planned) | yes | 349k |" in part
    # a miss below the published t90 says the budget is short
    assert (
        "| walker2d-medium | TD3BC | 61.5 | 30.0 | 0/2 (5 planned) | **no** (trained 100k, "
        "published t90 "
        "207k) | 207k |"
    ) in part
    assert "hopper-medium-replay" not in part
    assert "Probing a miss" not in doc  # no probe file yet
    # the probe's runs: the last 5 of each run's evaluations make its score
    probe = [
        {"env": "hopper-medium", "seed": 100, "variant": v, "updates": 5000 * (i + 1),
         "normalized_mean": score + i, "mean_length": 300.0, "data_normalized_mean": 41.6}
        for v, score in (("td3bc", 20.0), ("bc", 80.0)) for i in range(7)
    ]  # fmt: skip
    (tmp_path / sanity_doc.PROBE_FILE).write_text("".join(json.dumps(r) + "\n" for r in probe))
    doc = results_doc.render(rows, tmp_path, "results/", "r.jsonl")
    part = doc[doc.index("### Probing a miss") :].split("\n## ")[0]
    assert "| hopper-medium | bc | 100 | 35k | 84.0 | 86.0 | 300 | 41.6 |" in part
    assert "| hopper-medium | td3bc | 100 | 35k | 24.0 | 26.0 | 300 | 41.6 |" in part
    assert "hopper-medium bc: 1/1; hopper-medium td3bc: 0/1." in part
    assert "Past the bench's budget" not in doc  # no long run yet
    long = [
        {"env": "hopper-medium", "seed": 100, "variant": "td3bc", "updates": 10_000 * (i + 1),
         "normalized_mean": 30.0 + 2 * i, "data_normalized_mean": 41.6}
        for i in range(14)
    ]  # fmt: skip
    (tmp_path / sanity_doc.LONG_PROBE_FILE).write_text("".join(json.dumps(r) + "\n" for r in long))
    doc = results_doc.render(rows, tmp_path, "results/", "r.jsonl")
    part = doc[doc.index("### Past the bench's budget") :].split("\n## ")[0]
    # at 100k: the mean of the 60k-100k points (40..48); at the end: 100k-140k (48..56)
    assert "| hopper-medium | td3bc | 100 | 44.0 | 140k | 52.0 | 30 32 34" in part
    # rows measured on other data (another fingerprint) are left out of the check
    rows = [row("walker2d-medium", s, 30.0, "rebuilt") for s in range(2)]
    doc = results_doc.render(rows, tmp_path, "results/", "r.jsonl")
    assert "Sanity check" not in doc


def test_verdict_sets_each_robot_beside_the_paper_and_each_loss_beside_its_idm_check(tmp_path):
    hurt = "walker2d-medium-replay"  # hurt on every seed, with a velocity-based IDM check
    rows = [_row(hurt, "td3bc", s, 60.0 + s, 20.0 + s) for s in range(3)]
    rows += [_row(hurt, "td3bc", s, 60.0, 90.0, horizon=1) for s in range(2)]  # not the table's
    rows += [_row("halfcheetah-medium", "td3bc", s, 40.0, 40.0 + (-1) ** s) for s in range(2)]
    rows += [_row("hopper-medium", "td3bc", s, 30.0, 29.0) for s in range(2)]  # no IDM check
    rows += [_row("hopper-medium-replay", "td3bc", s, 30.0, 20.0) for s in range(2)]  # older check
    check = _row(hurt, None, None, 0.0, 0.0, "idm-check")
    check["generate"] = {
        "wm_velocity_r2": 0.909, "wm_velocity_r2_random_action": -2.3,
        "wm_action_sensitivity": 0.87, "wm_reward_r2": 0.98, "wm_reward_r2_random_action": 0.9,
        "idm_velocity_r2_real": 0.98, "idm_velocity_r2_generated": 0.87,
        "idm_velocity_relative_drop": 0.111, "idm_drop_flag": False,
        "idm_sim_r2_generated": 0.78, "wm_sim_r2_step0": 0.5,
        "idm_at_bound_generated": 0.518, "real_at_bound": 0.09,
    }  # fmt: skip
    check["idm"] = {
        "heldout_action_r2": 0.85,
        "sim_r2_true_action": 0.83,
        "sim_r2_idm_action": 0.85,
    }
    check["stage_dirs"] = {"generate": "/elsewhere/runs/generate-1a2b"}
    # the IDM's rates on real data, recorded by a later cell that reran the same generate stage
    rates = {"idm_at_bound_real": 0.204, "recorded_at_bound_heldout": 0.093}
    rows[0] |= {"stage_dirs": {"generate": "/here/runs/generate-1a2b"}, "idm": rates}
    older = _row("hopper-medium-replay", None, None, 0.0, 0.0, "idm-check")  # no velocity fields
    older["generate"] = {"idm_sim_r2_generated": 0.6, "wm_sim_r2_step0": 0.5}
    older["idm"] = {"heldout_action_r2": 0.9, "sim_r2_true_action": 1.0, "sim_r2_idm_action": 0.8}
    store = ResultStore(tmp_path / "r.jsonl")
    for row in [*rows, check, older]:
        store.append(row)
    doc = results_doc.write_report(store.path, tmp_path / "results.md").read_text()
    section = doc[doc.index("Verdict against the paper's direction (scale `cpu`)") :]
    section = section[: section.index("Closing note")]
    robots, losses = section.split("Where DAWM hurt on every seed, what the IDM check measured")
    assert "DWM-TD3BC 46 against TD3+BC 75 on walker2d-medium-replay" in robots
    # only the table's variant (H = 7): the H = 1 rows would read +50.0% and helped
    assert (
        "- walker2d (the summary: largest gains): medium-replay TD3BC -65.6% (DAWM hurt" in robots
    )
    assert "+50.0%" not in section
    assert (
        "- halfcheetah (the summary: marginal gains): medium TD3BC +0.0% (no consistent" in robots
    )
    assert "- hopper (no per-robot claim in the summary): medium TD3BC -3.3% (DAWM hurt" in robots
    assert (
        "- walker2d-medium-replay TD3BC (-65.6%): the IDM check did not flag it (its flag: a drop "
        "over 15%): world model step 0 velocity R² 0.909, action sensitivity 0.87; IDM velocity "
        "R² 11.1% below real; inferred actions at the bound 51.8% / 20.4% / 9.3%"
    ) in losses
    assert "- hopper-medium TD3BC (-3.3%): no IDM check at this scale yet." in losses
    assert (  # the all-dimension check: (0.8 - 0.6) / 0.8 = 25% drop, over the flag
        "- hopper-medium-replay TD3BC (-33.3%): the IDM check flagged it: IDM-labelled steps' "
        "simulator R² 25.0% below real + IDM."
    ) in losses
    assert "halfcheetah-medium TD3BC (" not in losses  # mixed, not a loss


def test_a_copied_real_only_agent_is_not_counted_in_the_cells_training_time(tmp_path):
    """An ablation cell that copied its real-only agent (stages/real_reuse.py) trained one
    agent: its row's agent_seconds hold that agent's time alone."""
    agent_dir = tmp_path / "train-agent"
    jobs = {"real": (300.0, {"reused_from": "elsewhere/td3bc-real-seed2"}), "dawm": (200.0, {})}
    for cond, (elapsed, result) in jobs.items():
        job = agent_dir / f"td3bc-{cond}-seed2"
        job.mkdir(parents=True)
        (job / "curve.csv").write_text(f"step,elapsed_s\n5,1.0\n10,{elapsed}\n")
        (job / "result.json").write_text(json.dumps(result))
    agent = SimpleNamespace(batched=False)
    ctx = SimpleNamespace(dir=lambda name: tmp_path / name, cfg=SimpleNamespace(agent=agent))
    cell = Cell("dawm-t", TASK, "td3bc", 2, 7, 1.0)
    assert cell_training_seconds(ctx, cell, 1) == 200.0
    (agent_dir / "td3bc-real-seed2" / "result.json").write_text("{}")  # trained here
    assert cell_training_seconds(ctx, cell, 1) == 500.0


def test_a_world_model_resumed_across_sessions_counts_every_sessions_training():
    """A stage's own clock saw only the session that finished it; the world model's fit history
    (steps over steps/s) keeps every session's, and the compute table takes the longest record
    of a stage folder."""
    from dawm_pipeline.experiments.doc.compute import stage_seconds as folder_seconds
    from dawm_pipeline.experiments.runner import stage_seconds

    resumed = {"seconds": 320.0, "summary": {"steps": 16000, "steps_per_second": 4.0}}
    assert stage_seconds("train-wm", resumed) == 4000.0
    assert stage_seconds("train-wm", {"seconds": 320.0, "summary": {}}) == 320.0
    assert stage_seconds("train-idm", resumed) == 320.0  # its fits keep no clock
    stages = {"data": 1.0, "train-wm": 320.0, "train-idm": 5.0, "generate": 2.0}
    dirs = {name: f"wm/{name}" for name in stages}
    rows = [
        {"stage_seconds": stages, "stage_dirs": dirs, "model_dir": "wm"},
        {"stage_seconds": stages | {"train-wm": 4000.0}, "stage_dirs": dirs, "model_dir": "wm"},
    ]
    assert folder_seconds(rows)["train-wm"] == {"wm/train-wm": 4000.0}
