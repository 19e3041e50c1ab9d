"""benchmarks/paper_scale.py: every stage measured, each projection is count / rate, the
counts follow the paper preset, and bad options are refused in one line before any work."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from dawm_pipeline.config import preset

ROOT = Path(__file__).resolve().parents[1]
STAGES = {"world_model", "idm", "generation", "agents_td3bc", "agents_iql", "evaluation"}


def paper_scale(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "benchmarks/paper_scale.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_smoke_run_projects_every_stage_from_its_rate(tmp_path):
    out = tmp_path / "paper_scale.json"
    proc = paper_scale("--smoke", "--seconds", "0.5", "--threads", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == result
    assert set(result["stages"]) == STAGES
    for name, row in result["stages"].items():
        assert row["measured_rate"] > 0, name
        assert row["unit"] and row["backend"], name
        expected = row["count_at_paper_scale"] / row["measured_rate"]
        assert row["projected_seconds"] == pytest.approx(expected, abs=0.05), name
    per_task = sum(row["projected_seconds"] for row in result["stages"].values()) / 3600
    assert result["per_task_projected_hours"] == pytest.approx(per_task, abs=1e-3)
    assert result["nine_task_projected_hours"] == pytest.approx(9 * per_task, abs=0.01)
    assert result["target_hours_per_task"] == 1.0

    paper = preset("paper")
    stages = result["stages"]
    assert stages["world_model"]["count_at_paper_scale"] == paper.wm.steps
    for algo in ("td3bc", "iql"):  # 5 seeds x (real, real + DAWM) = 10 agents x 1M updates
        assert stages[f"agents_{algo}"]["members"] == 10
        assert stages[f"agents_{algo}"]["count_at_paper_scale"] == 10 * paper.agent.steps
    h100 = result["h100_eager_earlier"]["stages"]
    assert h100["world_model"]["rate"] == pytest.approx(43.48)
    assert h100["agents_td3bc"]["rate"] == pytest.approx(284.0)
    for row in h100.values():
        assert (ROOT / row["source"].split(":")[0]).is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(
            ["--device", "cuda"],
            "--device cpu",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present"),
        ),
        (["--seconds", "0"], "--seconds"),
    ],
)
def test_bad_options_are_refused_in_one_line(args, needle):
    proc = paper_scale(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and args[0] in lines[0], proc.stderr
