"""`--launcher ray` on a real local Ray cluster of 2 CPUs (no mocks), at the tiny scale.

The launcher must give the local launcher's rows, compute each shared model stage once, and
survive a worker killed in the middle of a cell with exactly one row per cell. What every
stage did is read from the workers' own log files in the Ray session folder.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
from pathlib import Path

import pytest
import ray
import ray.cloudpickle
from dawm_pipeline.experiments import ResultStore, ray_cluster
from dawm_pipeline.experiments.cli import main
from dawm_pipeline.experiments.plan import Cell
from dawm_pipeline.experiments.ray_launcher import run_experiment_ray
from dawm_pipeline.experiments.runner import MODEL_STAGES, Sweep, cell_dir, run_cell
from dawm_pipeline.pipeline import run_stage
from dawm_pipeline.stage_graph import Context
from test_experiments import TASK, _sweep


@pytest.fixture(scope="module")
def session():
    """A throwaway 2-CPU cluster, quiet and small; its session folder holds the worker logs."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")  # a test cluster reports nothing
        env.delenv("RAY_ADDRESS", raising=False)  # a new cluster, not the user's
        context = ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=80 * 2**20,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    # The workers get this module's functions by value: tests/ is not on their sys.path.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield Path(context.address_info["session_dir"])
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


def worker_log(session: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in (session / "logs").glob("worker-*.err"))


def ran(log: str, stage: str, root: Path) -> int:
    """How many times `stage` was computed (not skipped) into a folder under `root`."""
    return log.count(f"{stage}: running into {root}")


def argv(hopper: str, root: Path, launcher: str) -> list[str]:
    return [
        "main", "--scale", "tiny", "--tasks", TASK, "--algos", "td3bc", "--seeds", "0", "1",
        "--sampler", "torch", "--dataset-path", f"{TASK}={hopper}", "--out", str(root / "runs"),
        "--results", str(root / "results.jsonl"), "--no-doc", "--launcher", launcher,
    ]  # fmt: skip


def test_ray_gives_the_local_rows_and_computes_each_shared_stage_once(
    session, hopper_file, tmp_path, capsys
):
    assert main(argv(hopper_file, tmp_path / "local", "local")) == 0
    assert main(argv(hopper_file, tmp_path / "ray", "ray")) == 0
    local = {r["key"]: r for r in ResultStore(tmp_path / "local" / "results.jsonl").rows()}
    far = {r["key"]: r for r in ResultStore(tmp_path / "ray" / "results.jsonl").rows()}
    assert len(local) == 2 and far.keys() == local.keys()
    for key, row in local.items():
        assert (far[key]["seed"], far[key]["scores"]) == (row["seed"], row["scores"])
    assert len({r["model_dir"] for r in far.values()}) == 1  # both seeds read one world model
    log = worker_log(session)
    for stage in MODEL_STAGES:
        assert ran(log, stage, tmp_path / "ray") == 1, stage
    assert ran(log, "train-agent", tmp_path / "ray") == 2  # one per seed
    # a restarted driver finds every row and runs nothing
    results = tmp_path / "ray" / "results.jsonl"
    before = results.read_text()
    capsys.readouterr()
    assert main(argv(hopper_file, tmp_path / "ray", "ray")) == 0
    assert "0 cells run, 2 already done" in capsys.readouterr().out
    assert results.read_text() == before


def die_once(marker: Path, sweep: Sweep, cell: Cell) -> dict:
    """Seed 1's first attempt trains its agents, then its worker process is SIGKILLed."""
    if cell.seed == 1 and not marker.exists():
        marker.write_text(str(os.getpid()))
        cfg = sweep.config(cell)
        run_stage(Context(cfg, cell_dir(sweep, [cell], cfg)), "train-agent")
        os.kill(os.getpid(), signal.SIGKILL)
    return run_cell(sweep, cell)


def test_a_worker_killed_mid_cell_is_retried_and_resumes(session, hopper_file, tmp_path):
    sweep = _sweep(tmp_path, hopper_file)
    marker = tmp_path / "killed"
    counts = run_experiment_ray(
        "main", sweep, (TASK,), ("td3bc",), (0, 1), run=functools.partial(die_once, marker)
    )
    assert counts == {"done": 2, "skipped": 0, "pending": 0}
    assert marker.exists()  # the kill happened
    rows = ResultStore(sweep.results).rows()
    assert sorted(r["seed"] for r in rows) == [0, 1] and len({r["key"] for r in rows}) == 2
    log = worker_log(session)
    # the retry found the killed attempt's agents finished: trained once per seed
    assert ran(log, "train-agent", tmp_path) == 2
    assert log.count(f"train-agent: done for this config ({tmp_path}") >= 1


def test_cells_no_node_can_run_are_one_error_line(session, hopper_file, tmp_path, capsys):
    assert main([*argv(hopper_file, tmp_path, "ray"), "--threads", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dawm_pipeline.experiments: error: each cell needs 4 CPUs")
    assert "the Ray cluster's largest node has 2" in err[-1]
    assert not (tmp_path / "results.jsonl").exists()


def test_without_ray_installed_the_error_says_how_to_install_it(
    hopper_file, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails
    assert main(argv(hopper_file, tmp_path, "ray")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'dawm-pipeline[ray]'" in err[0]


def test_an_address_nothing_answers_at_is_one_line_not_a_long_wait(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ValueError, match=r"no Ray cluster answers at 127\.0\.0\.1:9 \(from --ray"):
        ray_cluster._check_answers("127.0.0.1:9")  # Ray's own ray.init would retry for minutes
