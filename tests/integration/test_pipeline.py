"""End to end on a tiny dataset: every artifact, skip on rerun, kill-and-resume, bad input.

Each test runs the real CLI in a subprocess (`python -m dawm_pipeline`) with the `tiny` preset.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from dawm_pipeline import native
from dawm_pipeline.stage_graph import STAGES

PLOTS = ("wm_loss", "idm_check", "states", "rewards", "projection", "learning_curves")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def cli(*args: str, timeout: float = 170) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dawm_pipeline", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def stage(run_dir: Path, name: str) -> Path:
    """A stage's folder as the run record names it (stage folders are keyed by their inputs)."""
    return Path(json.loads((run_dir / "run.json").read_text())["stages"][name])


def base(data: Path, out: Path) -> list[str]:
    return [
        "--preset",
        "tiny",
        "--dataset-source",
        "d4rl",
        "--dataset-path",
        str(data),
        "--out",
        str(out),
    ]


@pytest.fixture(scope="module")
def full_run(tiny_hopper, tmp_path_factory) -> tuple[list[str], Path]:
    args = [*base(tiny_hopper, tmp_path_factory.mktemp("runs")), "--log", "tensorboard"]
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return args, Path(proc.stdout.strip().splitlines()[-1])


def test_full_pipeline_writes_every_artifact(full_run):
    _, run_dir = full_run
    for name in STAGES:
        assert (stage(run_dir, name) / "done.json").is_file(), name
    assert stage(run_dir, "report") == run_dir / "report"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["dataset"]["source"] == "d4rl" and len(record["dataset"]["fingerprint"]) == 64
    assert record["versions"]["torch"] and record["config"]["preset"] == "tiny"
    assert record["seeds"] == [0]
    report = run_dir / "report"
    for plot in PLOTS:
        assert (report / f"{plot}.png").stat().st_size > 1000, plot
    r = json.loads((report / "report.json").read_text())
    table = r["agents"]["table"]["td3bc"]
    assert set(table) == {"real", "dawm"} and all(v["n"] == 1 for v in table.values())
    assert r["generated"]["transitions"] > 0
    assert r["idm"]["sim_r2_true_action"] > 0.99  # the simulator check itself is exact
    md = (report / "report.md").read_text()
    assert "D4RL hdf5 file" in md and "DAWM" in md and r["dataset"]["fingerprint"] in md
    assert "at the action bound" in md  # the inferred actions' bound rate, beside the real's
    synthetic = stage(run_dir, "generate") / "synthetic.npz"
    assert synthetic.stat().st_size > 0
    assert not (stage(run_dir, "generate") / "chunks").exists()


def test_tensorboard_logs_hold_every_stage_s_curves(full_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run_dir = full_run
    logs = run_dir / "tensorboard"

    def tags(folder: str) -> dict[str, list[float]]:
        acc = EventAccumulator(str(logs / folder))
        acc.Reload()
        return {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}

    wm = tags("train-wm")
    history = json.loads((stage(run_dir, "train-wm") / "history.json").read_text())
    assert wm["world_model/loss"] == pytest.approx(history["loss"])  # every point, live
    assert len(wm["world_model/val_loss"]) == len(history["val_loss"]) > 0
    idm = tags("train-idm")
    assert len(idm["idm/train_nll"]) == len(idm["idm/val_nll"]) >= 1
    assert "idm_heldout/heldout_action_r2" in idm
    generation = tags("generate")
    assert "generation/wm_velocity_r2" in generation and "generation/transitions" in generation
    agent = tags("train-agent/td3bc-dawm-seed0")
    assert {"agent/critic_loss", "agent/q_mean", "agent/eval_normalized_mean"} <= set(agent)
    assert "final_score/td3bc-real-seed0/normalized_mean" in tags("evaluate")


def test_second_run_skips_every_stage(full_run):
    args, run_dir = full_run
    before = {s: (stage(run_dir, s) / "done.json").stat().st_mtime_ns for s in STAGES}
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("skipped") == len(STAGES)
    assert before == {s: (stage(run_dir, s) / "done.json").stat().st_mtime_ns for s in STAGES}


def test_a_corrupt_output_is_recomputed_with_a_warning(tiny_hopper, tmp_path):
    args = base(tiny_hopper, tmp_path)
    stages = ("data", "train-wm", "train-idm", "generate")
    first = cli(*stages, *args)
    assert first.returncode == 0, first.stderr[-2000:]
    synthetic = stage(Path(first.stdout.strip().splitlines()[-1]), "generate") / "synthetic.npz"
    original = synthetic.read_bytes()
    synthetic.write_bytes(original[: len(original) // 2])  # a torn copy
    again = cli(*stages, *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "synthetic.npz does not match the checksum" in again.stderr
    assert "generate: running" in again.stderr and "train-wm: done" in again.stderr
    assert synthetic.read_bytes() == original  # recomputed, identical


def test_same_config_trains_bit_identical_models(full_run, tmp_path):
    """The same config computed again in a fresh output root reproduces weights and data.

    Only weights and arrays are compared: JSON records also hold wall times.
    """
    args, run_dir = full_run
    fresh = [*args[: args.index("--out")], "--out", str(tmp_path), "--run", "again"]
    proc = cli("data", "train-wm", "train-idm", "generate", *fresh)
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = tmp_path / run_dir.parent.name / "again"
    for name, artifact in (
        ("train-wm", "model"),
        ("train-idm", "model"),
        ("generate", "synthetic.npz"),
    ):
        first, second = stage(run_dir, name) / artifact, stage(again, name) / artifact
        arrays = [p for p in first.rglob("*") if p.suffix in (".safetensors", ".npz")]
        files = sorted(p.relative_to(first) for p in arrays) or [Path()]
        for f in files:
            assert (first / f).read_bytes() == (second / f).read_bytes(), artifact


def test_sampling_settings_do_not_retrain_the_world_model(full_run):
    """Another guidance ω into the same --out: one world model, two generated sets."""
    args, run_dir = full_run
    stages = ("data", "train-wm", "train-idm", "generate")
    proc = cli(*stages, *args, "--run", "omega2", "--gen.guidance", "2.0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "train-wm: done for this config" in proc.stderr
    other = run_dir.parent / "omega2"
    assert stage(other, "train-wm") == stage(run_dir, "train-wm")
    assert stage(other, "generate") != stage(run_dir, "generate")
    first = np.load(stage(run_dir, "generate") / "synthetic.npz")["next_observations"]
    second = np.load(stage(other, "generate") / "synthetic.npz")["next_observations"]
    assert first.shape == second.shape and not np.allclose(first, second)


def test_world_model_stops_on_held_out_quality(full_run):
    """Early stopping: chunks of --wm.stop-every steps, a held-out check after each, a cap."""
    args, run_dir = full_run
    extra = ["--wm.stop-patience", "1", "--wm.stop-every", "10", "--wm.steps", "60"]
    proc = cli("data", "train-wm", *args, "--run", "early", *extra)
    assert proc.returncode == 0, proc.stderr[-2000:]
    early = json.loads((stage(run_dir.parent / "early", "train-wm") / "done.json").read_text())
    full = json.loads((stage(run_dir, "train-wm") / "done.json").read_text())["summary"]
    summary = early["summary"]
    checks = summary["step_zero_r2"]
    assert [s for s, _ in checks] == list(range(10, 10 * len(checks) + 1, 10))
    assert summary["steps"] == checks[-1][0] <= 60
    assert summary["stopped_early"] == (summary["steps"] < 60)
    assert summary["windows"] < full["windows"]  # the hold-out episodes are not trained on
    on_cpu = "native" if native.available(native.TRAIN_KERNEL_MODULE) else "torch"
    assert full["norm_mish_kernel"] == on_cpu


def test_max_transitions_caps_the_synthetic_volume(full_run):
    args, run_dir = full_run
    stages = ("data", "train-wm", "train-idm", "generate")
    proc = cli(*stages, *args, "--run", "capped", "--gen.max-transitions", "40")
    assert proc.returncode == 0, proc.stderr[-2000:]
    capped_run = run_dir.parent / "capped"
    capped = json.loads((stage(capped_run, "generate") / "done.json").read_text())["summary"]
    full = json.loads((stage(run_dir, "generate") / "done.json").read_text())["summary"]
    assert stage(capped_run, "train-wm") == stage(run_dir, "train-wm")  # one world model
    assert full["target_transitions"] > 40
    assert capped["target_transitions"] == 40
    assert 0 < capped["transitions"] <= 40 + capped["rollouts"]


def test_drop_at_bound_is_its_own_generate_stage_and_reports_the_bound_rates(full_run):
    args, run_dir = full_run
    stages = ("data", "train-wm", "train-idm", "generate")
    proc = cli(*stages, *args, "--run", "filtered", "--gen.drop-at-bound")
    assert proc.returncode == 0, proc.stderr[-2000:]
    filtered_run = run_dir.parent / "filtered"
    assert stage(filtered_run, "train-wm") == stage(run_dir, "train-wm")  # one world model
    full_dir, filtered_dir = stage(run_dir, "generate"), stage(filtered_run, "generate")
    assert filtered_dir != full_dir
    full = np.load(full_dir / "synthetic.npz")
    summary = json.loads((filtered_dir / "done.json").read_text())["summary"]
    kept = np.load(filtered_dir / "synthetic.npz")
    assert not kept["at_bound"].any()
    assert len(kept["rewards"]) == len(full["rewards"]) - summary["dropped_at_bound"]
    inferred = full["step"] > 0
    assert summary["idm_at_bound_generated"] == pytest.approx(full["at_bound"][inferred].mean())
    assert 0.0 <= summary["real_at_bound"] <= 1.0


def test_a_variant_reuses_the_finished_real_only_agent_and_trains_the_dawm_one(full_run):
    """Only the synthetic steps differ: the real-only job is copied (same data, agent settings
    and seed), checked, and costs no training time; the real + DAWM job is trained anew."""
    args, run_dir = full_run
    proc = cli(*args, "--run", "first-steps", "--agent.synthetic-steps", "first")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "td3bc-real-seed0 reused from" in proc.stdout + proc.stderr
    variant = run_dir.parent / "first-steps"
    theirs, mine = stage(run_dir, "train-agent"), stage(variant, "train-agent")
    assert theirs != mine
    real = "td3bc-real-seed0"
    assert (mine / real / "curve.csv").read_bytes() == (theirs / real / "curve.csv").read_bytes()
    assert json.loads((mine / real / "result.json").read_text())["reused_from"] == str(
        theirs / real
    )
    assert not (mine / real / "checkpoint").exists()
    assert (mine / "td3bc-dawm-seed0" / "checkpoint").exists()  # trained here
    dawm_result = json.loads((mine / "td3bc-dawm-seed0" / "result.json").read_text())
    assert "reused_from" not in dawm_result


def test_simulator_dynamics_replays_the_synthetic_rows_for_the_dawm_agent_only(full_run):
    """--agent.synthetic-dynamics simulator: the same generated rows, the simulator's outcomes;
    the real-only job is reused, the replay is announced and its kept rows are recorded."""
    args, run_dir = full_run
    proc = cli(*args, "--run", "simulated", "--agent.synthetic-dynamics", "simulator")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "td3bc-real-seed0 reused from" in out
    assert "[dawm] train-agent: the simulator's dynamics for" in out
    variant = run_dir.parent / "simulated"
    assert stage(variant, "generate") == stage(run_dir, "generate")
    mine = stage(variant, "train-agent")
    summary = json.loads((mine / "done.json").read_text())["summary"]
    generated = json.loads((stage(run_dir, "generate") / "done.json").read_text())["summary"]
    assert summary["synthetic"] == generated["transitions"]
    assert 0 <= summary["synthetic_kept_model_dynamics"] < summary["synthetic"]
    assert (mine / "td3bc-dawm-seed0" / "result.json").is_file()
    # simulator-replayable: those rows left out instead, announced and counted the same way
    proc = cli(*args, "--run", "replayable", "--agent.synthetic-dynamics", "simulator-replayable")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "at the velocity clip are left out" in proc.stdout + proc.stderr
    left_out = stage(run_dir.parent / "replayable", "train-agent")
    replayable = json.loads((left_out / "done.json").read_text())["summary"]
    assert replayable["synthetic_left_out"] == summary["synthetic_kept_model_dynamics"]
    assert left_out != mine and (left_out / "td3bc-dawm-seed0" / "result.json").is_file()


def test_a_real_only_job_whose_files_changed_is_not_reused(full_run, tmp_path):
    args, run_dir = full_run
    out = tmp_path / "runs"
    shutil.copytree(run_dir.parent.parent, out)  # the whole --out tree, stage store included
    curves = sorted(out.glob("*/stages/train-agent-*/td3bc-real-seed0/curve.csv"))
    assert curves  # the finished stages a variant could copy from
    for curve in curves:
        curve.write_text(curve.read_text() + "\n")
    moved = [*args[: args.index("--out") + 1], str(out), *args[args.index("--out") + 2 :]]
    proc = cli(*moved, "--run", "tampered", "--agent.synthetic-steps", "inferred")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "train-wm: done" in proc.stderr  # the copied store was used
    assert "reused from" not in proc.stdout + proc.stderr


KILLED_STAGES = {  # stage: (options, its checkpoint file, the summary's resume point, its end)
    "train-wm": (
        ["--wm.steps", "600", "--wm.checkpoint-every", "25"],
        "checkpoint/checkpoint.pt",
        "resumed_from",
        600,
    ),
    "train-idm": (
        ["--idm.max-epochs", "150", "--idm.patience", "150"],
        "checkpoint/fit_checkpoint.pt",
        "resumed_from_epoch",
        150,
    ),
}


@pytest.mark.parametrize("stage_name", sorted(KILLED_STAGES))
def test_killed_stage_resumes_from_its_checkpoint(tiny_hopper, tmp_path, stage_name):
    options, checkpoint, resumed_key, end = KILLED_STAGES[stage_name]
    args = [*base(tiny_hopper, tmp_path), *options]
    assert cli("data", *args).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "dawm_pipeline", stage_name, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    ckpt = None
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        found = list(tmp_path.glob(f"*/stages/{stage_name}-*/{checkpoint}"))
        if found:
            ckpt = found[0]
            break
        time.sleep(0.05)
    assert ckpt is not None, "no checkpoint appeared"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stage = ckpt.parent.parent
    assert not (stage / "done.json").exists(), "the stage finished before it could be killed"
    resumed = cli(stage_name, *args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads((stage / "done.json").read_text())["summary"]
    assert 1 <= summary[resumed_key] < end
    if stage_name == "train-wm":
        history = json.loads((stage / "history.json").read_text())
        assert history["step"][-1] == 600
        assert history["steps_done"] == 600  # counted across the interruption, none twice
    else:  # every epoch once: the curve runs to the cap, the resumed part included
        fitted = json.loads((stage / "metrics.json").read_text())["fit"]
        assert len(fitted["val_nll"]) == summary["epochs"] == 150


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--env", "hopper-expertish"], "unknown dataset name"),
        (["--horizon", "0"], "--horizon must be >= 1"),
        (["--horizon", "seven"], "--horizon"),
        (["--gen.max-transitions", "0"], "--gen.max-transitions must be >= 1"),
        (["--dataset-source", "d4rl", "--dataset-path", "/no/such/file.hdf5"], "not found"),
        (["--agent.synthetic-dynamics", "mujoco"], "--agent.synthetic-dynamics"),
    ],
    ids=[
        "unknown-env",
        "horizon-zero",
        "horizon-text",
        "max-transitions-zero",
        "missing-hdf5",
        "dynamics-choice",
    ],
)
def test_bad_input_gives_one_clear_line(tmp_path, extra, needle):
    proc = cli("--preset", "tiny", "--out", str(tmp_path), *extra, timeout=60)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("dawm_pipeline: error:"), proc.stderr
    assert needle in errors[0]
    assert "Traceback" not in proc.stderr


def test_a_stale_run_name_is_refused_and_overwrite_moves_it_aside(tiny_hopper, tmp_path):
    args = [*base(tiny_hopper, tmp_path), "--run", "mine"]
    first = cli("data", *args)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "(chosen explicitly (--dataset-source))" in first.stderr  # the source used, and why
    run_dir = Path(first.stdout.strip().splitlines()[-1])
    record = json.loads((run_dir / "run.json").read_text())
    refused = cli("data", *args, "--gamma", "0.9")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert (
        "holds a run of another config" in refused.stderr and "gamma: 0.99 -> 0.9" in refused.stderr
    )
    assert json.loads((run_dir / "run.json").read_text()) == record  # untouched
    again = cli("data", *args, "--gamma", "0.9", "--overwrite")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "moved to" in again.stderr and "removed the replaced run" in again.stderr
    assert json.loads((run_dir / "run.json").read_text())["config"]["gamma"] == 0.9
    assert [p.name for p in run_dir.parent.iterdir() if p.name.startswith("mine")] == ["mine"]


TORN_CHECKPOINTS = {  # stage: (options, checkpoint file, the summary's resume point and length)
    "train-wm": (["--wm.steps", "60"], "checkpoint.pt", ("resumed_from", "steps"), 60),
    "train-idm": (
        ["--idm.max-epochs", "4"],
        "fit_checkpoint.pt",
        ("resumed_from_epoch", "epochs"),
        4,
    ),
}


@pytest.mark.parametrize("stage_name", sorted(TORN_CHECKPOINTS))
def test_a_torn_training_checkpoint_is_moved_aside_and_training_restarts(
    tiny_hopper, tmp_path, stage_name
):
    from dawm_pipeline.cli import parse
    from dawm_pipeline.stage_graph import Context, run_name

    options, name, (resumed_key, length_key), length = TORN_CHECKPOINTS[stage_name]
    args = [*base(tiny_hopper, tmp_path), "--idm.patience", "4", *options]
    _, cfg = parse(args)
    stage_dir = Context(cfg, tmp_path / cfg.env / run_name(cfg)).dir(stage_name)
    (stage_dir / "checkpoint").mkdir(parents=True)
    (stage_dir / "checkpoint" / name).write_bytes(b"PK\x03\x04 torn by a crash")
    proc = cli("data", stage_name, *args)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"{name} is unreadable" in proc.stderr and "moved aside" in proc.stderr
    assert len(list((stage_dir / "checkpoint").glob(f"{name}.unreadable-*"))) == 1
    summary = json.loads((stage_dir / "done.json").read_text())["summary"]
    assert summary[resumed_key] == 0 and summary[length_key] == length


def test_batched_agents_train_every_job_as_their_own_runs_do(tiny_hopper, tmp_path):
    """--agent.batched: the same jobs, files and results, each member's curve equal to its
    own run's (float rounding apart)."""
    args = [*base(tiny_hopper, tmp_path), "--seeds", "0", "1"]
    assert cli("data", "train-wm", "train-idm", "generate", *args).returncode == 0
    single = cli("train-agent", "evaluate", *args)
    batched = cli("train-agent", "evaluate", *args, "--agent.batched")
    assert single.returncode == 0 and batched.returncode == 0, batched.stderr[-2000:]
    folders = [stage(Path(p.stdout.strip()), "train-agent") for p in (single, batched)]
    assert folders[0] != folders[1]  # batching is part of the stage's inputs
    assert (folders[1] / "td3bc-batch" / "checkpoint" / "checkpoint.pt").is_file()
    for job in ("td3bc-real-seed0", "td3bc-dawm-seed0", "td3bc-real-seed1", "td3bc-dawm-seed1"):
        results = [json.loads((f / job / "result.json").read_text()) for f in folders]
        assert [r["batched"] for r in results] == [False, True]
        assert results[0]["steps"] == results[1]["steps"] == 40
        curves = [(f / job / "curve.csv").read_text().splitlines() for f in folders]
        header = curves[0][0].split(",")
        loss = header.index("critic_loss")
        first = [float(c[1].split(",")[loss]) for c in curves]
        assert first[1] == pytest.approx(first[0], rel=1e-4), job
        assert (folders[1] / job / "agent" / "model.safetensors").is_file()
