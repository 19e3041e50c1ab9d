"""`train-wm` under torchrun: two CPU processes (gloo) reproduce one process's loss curve.

The world model stops early here (a quality gain no check can reach), so both runs must also
take the same early-stopping decision, which under torchrun rank 0 alone computes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from test_pipeline import ENV, base, stage

EARLY_STOP = ["--wm.stop-patience", "1", "--wm.stop-every", "10", "--wm.stop-min-gain", "100"]


def train_wm(data: Path, out: Path, processes: int) -> subprocess.CompletedProcess:
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    cmd = [sys.executable, *(launcher if processes > 1 else []), "-m", "dawm_pipeline"]
    args = ["data", "train-wm", *base(data, out), "--threads", "1", *EARLY_STOP]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=240, env=ENV)


def test_two_process_train_wm_matches_one_process(tiny_hopper, tmp_path):
    start = time.perf_counter()
    one = train_wm(tiny_hopper, tmp_path / "one", 1)
    assert one.returncode == 0, one.stderr[-3000:]
    two = train_wm(tiny_hopper, tmp_path / "two", 2)
    assert two.returncode == 0, two.stderr[-3000:]
    assert time.perf_counter() - start < 120
    # rank 0 alone reports and writes: one run folder line, one log line per event
    assert len(two.stdout.split()) == 1 and two.stderr.count("train-wm: finished") == 1
    assert "2 torchrun processes" in two.stderr
    runs = [Path(p.stdout.strip()) for p in (one, two)]
    folders = [stage(run, "train-wm") for run in runs]
    assert folders[0].name == folders[1].name  # same inputs, same stage hash
    h1, h2 = (json.loads((f / "history.json").read_text()) for f in folders)
    s1, s2 = (json.loads((f / "done.json").read_text())["summary"] for f in folders)
    # both stop at the same check: 2 checks of 10 steps, then stale, short of the 30-step cap
    assert s1["steps"] == s2["steps"] == 20 and s1["stopped_early"] and s2["stopped_early"]
    assert [q[0] for q in s2["step_zero_r2"]] == [10, 20]
    np.testing.assert_allclose(
        [q[1] for q in s2["step_zero_r2"]], [q[1] for q in s1["step_zero_r2"]], rtol=1e-3
    )
    assert h1["step"] == h2["step"] and len(h1["loss"]) == 20
    # the same global batches; only the order of the gradient reduction differs
    np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=1e-3)
    np.testing.assert_allclose(h2["val_loss"], h1["val_loss"], rtol=1e-3)
    assert sorted(p.name for p in folders[1].iterdir()) == sorted(
        p.name for p in folders[0].iterdir()
    )


def test_stages_that_cannot_run_under_torchrun_are_one_error_line(tiny_hopper, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "dawm_pipeline", *base(tiny_hopper, tmp_path)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=ENV)
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if "dawm_pipeline: error:" in line]
    assert len(errors) == 1, run.stderr[-3000:]  # rank 0 alone says it, and nothing ran
    assert "under torchrun only data and train-wm run" in errors[0]
    assert not (tmp_path / "hopper-medium-replay").exists()
