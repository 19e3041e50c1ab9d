"""benchmarks/bench_queue.sh: queues run their lines in order, merging adds only new rows."""

import json
import os
import subprocess
import time
from pathlib import Path

from dawm_pipeline.experiments import ResultStore
from test_experiments import _row

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_queue.sh"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO)


def test_queue_runs_each_line_in_order_and_says_when_done(tmp_path):
    work = tmp_path / "bench"
    work.mkdir()
    (work / "src").symlink_to(REPO)  # stands for the frozen clone `setup` makes
    queue = tmp_path / "q1.txt"
    queue.write_text("# two commands that fail at once\nmain --tasks no-such-task\n\nbogus\n")
    started = _run("start", str(work), str(queue))
    assert started.returncode == 0, started.stderr
    pid = int((work / "q1.pid").read_text())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    log = (work / "log_q1.txt").read_text()
    commands = [ln.split(" ", 2)[2] for ln in log.splitlines() if ln.startswith("[bench_queue]")]
    assert commands == ["main --tasks no-such-task", "bogus", "queue done"]
    assert "unknown task 'no-such-task'" in log and "unknown experiment 'bogus'" in log
    # the working results file starts as the tracked one, so finished cells skip
    tracked = (REPO / "docs" / "results" / "results.jsonl").read_text()
    assert (work / "results.jsonl").read_text() == tracked


def test_merge_adds_only_rows_the_results_file_lacks(tmp_path):
    work = tmp_path / "bench"
    work.mkdir()
    rows = [_row("hopper-medium-replay", "td3bc", s, 20.0 + s, 30.0) for s in range(3)]
    source, target = ResultStore(work / "results.jsonl"), ResultStore(tmp_path / "r.jsonl")
    for row in rows:
        source.append(row)
    target.append(rows[0])
    doc = tmp_path / "results.md"
    merged = _run("merge", str(work), str(target.path), str(doc))
    assert merged.returncode == 0, merged.stderr
    assert f"merged 2 new rows into {target.path}" in merged.stdout
    keys = [json.loads(line)["key"] for line in target.path.read_text().splitlines()]
    assert sorted(keys) == sorted(r["key"] for r in rows)
    assert "| hopper-medium-replay |" in doc.read_text()


def test_bad_commands_are_one_line_errors(tmp_path):
    missing = _run("start", str(tmp_path), str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "queue file" in missing.stderr
    queue = tmp_path / "q.txt"
    queue.write_text("main\n")
    no_venv = _run("start", str(tmp_path / "w"), str(queue))
    assert no_venv.returncode == 2 and "run 'setup' first" in no_venv.stderr
    assert _run("merge", str(tmp_path / "empty")).returncode == 2
    assert _run("frobnicate", str(tmp_path)).returncode == 2
