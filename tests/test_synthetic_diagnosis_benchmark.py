"""benchmarks/synthetic_diagnosis.py: every variant is a valid bench config whose stages differ
only where its option reaches, and a store without the runs reports each one as missing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dawm_pipeline.runs import config_hash
from dawm_pipeline.stage_graph import Context, stage_inputs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import synthetic_diagnosis as sd  # noqa: E402


def stage_hash(cfg, stage: str) -> str:
    return config_hash(stage_inputs(cfg, stage))


@pytest.mark.parametrize("label", list(sd.VARIANTS))
def test_each_variant_changes_only_the_stages_its_option_reaches(label, tmp_path):
    algo, overrides = sd.VARIANTS[label]
    default = sd.variant_config("td3bc", {}, tmp_path)
    cfg = sd.variant_config(algo, overrides, tmp_path)
    assert cfg.seeds == (sd.SEED,) and cfg.agent.steps == sd.STEPS
    assert stage_hash(cfg, "data") == stage_hash(default, "data")
    same_wm = stage_hash(cfg, "train-wm") == stage_hash(default, "train-wm")
    assert same_wm == ("wm" not in overrides)  # one world model unless the variant changes it
    if overrides or algo != "td3bc":
        assert stage_hash(cfg, "train-agent") != stage_hash(default, "train-agent")
    if "idm" not in overrides:
        assert stage_hash(cfg, "train-idm") == stage_hash(default, "train-idm")
    if "agent" in overrides:
        assert stage_hash(cfg, "generate") == stage_hash(default, "generate")


@pytest.mark.parametrize("task", [[], ["--task", "halfcheetah-medium", "--updates", "60000"]])
def test_a_store_without_the_runs_lists_every_variant_as_missing(tmp_path, task):
    proc = subprocess.run(
        [sys.executable, "benchmarks/synthetic_diagnosis.py", "--out", str(tmp_path), *task],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["variant"] for r in rows] == list(sd.VARIANTS)
    assert all(r["missing"] == "not run yet" for r in rows)


def test_another_task_changes_only_the_dataset(tmp_path):
    cfg = sd.variant_config("td3bc", {}, tmp_path, task="halfcheetah-medium")
    default = sd.variant_config("td3bc", {}, tmp_path)
    assert cfg.env == "halfcheetah-medium" and cfg.agent == default.agent
    assert stage_hash(cfg, "data") != stage_hash(default, "data")


def test_longer_runs_are_other_agent_stages_on_the_same_data(tmp_path):
    """--updates reads runs of another --agent.steps: their agents, the same generated data."""
    longer = sd.variant_config("td3bc", {}, tmp_path, steps=60_000)
    default = sd.variant_config("td3bc", {}, tmp_path)
    assert stage_hash(longer, "train-agent") != stage_hash(default, "train-agent")
    assert stage_hash(longer, "generate") == stage_hash(default, "generate")


def test_the_dim_128_variants_read_one_run():
    """Both agents of the dim-128 world model come from one bench run (algo "both"): the
    TD3+BC and IQL variants must resolve to the same agent stage."""
    td3bc = sd.variant_config(*sd.VARIANTS["world model dim 128"], Path("/tmp/unused"))
    iql = sd.variant_config(*sd.VARIANTS["IQL, world model dim 128"], Path("/tmp/unused"))
    assert stage_hash(td3bc, "train-agent") == stage_hash(iql, "train-agent")


def test_fall_check_finds_each_rows_generate_stage_or_says_it_is_missing(tmp_path):
    """benchmarks/fall_check.py resolves a row's generate stage from its cell (the folder must
    be the one the row recorded) and reports a store without it as missing."""
    import fall_check
    from dawm_pipeline.experiments.plan import Cell, cell_config

    cell = Cell("main", "walker2d-medium-replay", "td3bc", 0, 7, 8.0)
    ctx = Context(cell_config(cell, "bench", out=str(tmp_path)), tmp_path / cell.task / "x")
    row = {"task": cell.task, "algo": "td3bc", "seed": 0, "horizon": 7, "synthetic_ratio": 8.0,
           "scale": "bench", "stage_dirs": {"generate": str(ctx.dir("generate"))}}  # fmt: skip
    assert "not under" in fall_check.fall_check(row, tmp_path)["missing"]  # no done.json yet
    ctx.dir("generate").mkdir(parents=True)
    (ctx.dir("generate") / "done.json").write_text(
        json.dumps({"summary": {"fall_starts": 3, "fall_recall_step0": 0.5, "other": 1}})
    )
    out = fall_check.fall_check(row, tmp_path)
    assert out["fall_starts"] == 3 and out["fall_recall_step0"] == 0.5 and "other" not in out
    elsewhere = row | {"stage_dirs": {"generate": "/elsewhere/generate-000000000000"}}
    assert "missing" in fall_check.fall_check(elsewhere, tmp_path)
