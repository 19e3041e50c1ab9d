"""benchmarks/bench_queue.sh: a queue runs its lines in order as argument lists, `stop` ends
the cell it runs too, and merging adds only new rows.

The queue tests put a stand-in for the frozen clone's Python in DIR/src/.venv: a script that
records its arguments (and sleeps when asked), so they test the queue, not the experiments.
"""

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

from dawm_pipeline.experiments import ResultStore, plan
from dawm_pipeline.experiments.cli import _parser
from dawm_pipeline.experiments.summary import variant
from test_experiments import _row

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_queue.sh"
STAND_IN = """#!/usr/bin/env bash
shift 2  # -m dawm_pipeline.experiments
printf '%s|' "$@" >> "$(dirname "$0")/../../../calls.txt"; echo >> "$(dirname "$0")/../../../calls.txt"
[ "$1" = sleep ] && { echo $$ > "$(dirname "$0")/../../../sleeper.pid"; sleep 300; }
exit 0
"""


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO)


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "bench"
    python = work / "src" / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(STAND_IN)
    python.chmod(0o755)
    return work


def _wait(predicate, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_queue_runs_each_line_in_order_as_arguments(tmp_path):
    work = _work(tmp_path)
    (work / "src" / "bfile").touch()  # a glob in a line must stay a glob
    queue = tmp_path / "q1.txt"
    queue.write_text("# comment\nmain --tasks a   # note\n\nhorizon --tasks b*\r\ndawm-t --seeds 1")
    started = _run("start", str(work), str(queue))
    assert started.returncode == 0, started.stderr
    assert _wait(lambda: "queue done" in (work / "log_q1.txt").read_text())
    extra = f"--scale|bench|--threads|1|--out|{work}/runs|--results|{work}/results.jsonl|--no-doc|"
    assert (work / "calls.txt").read_text().splitlines() == [
        f"main|--tasks|a|{extra}",
        f"horizon|--tasks|b*|{extra}",
        f"dawm-t|--seeds|1|{extra}",  # the last line, though it has no newline
    ]
    # the working results file starts as the tracked one, so finished cells skip
    tracked = (REPO / "docs" / "results" / "results.jsonl").read_text()
    assert (work / "results.jsonl").read_text() == tracked


def test_stop_ends_the_running_cell_and_start_refuses_a_second_copy(tmp_path):
    work = _work(tmp_path)
    queue = tmp_path / "q2.txt"
    queue.write_text("sleep\nmain\n")
    assert _run("start", str(work), str(queue)).returncode == 0
    sleeper = work / "sleeper.pid"
    assert _wait(sleeper.exists)
    pid = int(sleeper.read_text())
    again = _run("start", str(work), str(queue))
    assert again.returncode == 2 and "already runs" in again.stderr
    stopped = _run("stop", str(work), str(queue))
    assert stopped.returncode == 0, stopped.stderr
    assert _wait(lambda: not _alive(pid))
    assert (work / "calls.txt").read_text().count("\n") == 1  # `main` never started
    assert _wait(lambda: "not running" in _run("stop", str(work), str(queue)).stderr)


def test_status_names_each_queue_its_line_its_progress_and_the_unmerged_rows(tmp_path):
    work = _work(tmp_path)
    assert "no queue has been started" in _run("status", str(work)).stdout
    queue = tmp_path / "q3.txt"
    queue.write_text("sleep --tasks x\n")
    assert _run("start", str(work), str(queue)).returncode == 0
    assert _wait((work / "sleeper.pid").exists)
    with (work / "log_q3.txt").open("a") as log:  # a progress bar as tqdm draws it
        log.write("\x1b[Acell:  10%|#  | 1/10\rcell:  20%|## | 2/10\r")
    row = _row("hopper-medium-replay", "td3bc", 0, 1.0, 2.0) | {"key": "not merged"}
    ResultStore(work / "results.jsonl").append(row)
    running = _run("status", str(work))
    assert running.returncode == 0, running.stderr
    lines = running.stdout.splitlines()
    assert lines[0].startswith("queue q3: running (process group ")
    assert lines[1].startswith("  last started: ") and lines[1].endswith(" sleep --tasks x")
    assert lines[2] == "  now: cell:  20%|## | 2/10"
    tracked = len(ResultStore(REPO / "docs" / "results" / "results.jsonl").rows())
    assert lines[3].endswith(f"results.jsonl: {tracked + 1} rows, 1 not in "
                             "docs/results/results.jsonl yet ('merge' adds them)")  # fmt: skip
    assert _run("stop", str(work), str(queue)).returncode == 0
    assert _wait(lambda: "queue q3: stopped" in _run("status", str(work)).stdout)
    (work / "log_q0.txt").touch()  # a queue whose log holds nothing yet
    empty = _run("status", str(work))
    assert empty.returncode == 0 and empty.stdout.startswith("queue q0: stopped\nqueue q3:")


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
    # a results file of its own (a GPU pass's) merges the same way
    gpu = ResultStore(tmp_path / "bench_gpu.jsonl")
    gpu.append(rows[1] | {"key": "gpu"})
    assert "merged 1 new rows" in _run("merge", str(gpu.path), str(target.path), str(doc)).stdout


def test_bad_commands_are_one_line_errors(tmp_path):
    missing = _run("start", str(tmp_path), str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "queue file" in missing.stderr
    queue = tmp_path / "q.txt"
    queue.write_text("main\n")
    no_venv = _run("start", str(tmp_path / "w"), str(queue))
    assert no_venv.returncode == 2 and "run 'setup' first" in no_venv.stderr
    typo = _run("merge", str(tmp_path / "typo"))
    assert typo.returncode == 2 and not (tmp_path / "typo").exists()
    assert _run("frobnicate", str(tmp_path)).returncode == 2


def _queue_cells(name: str) -> list:
    cells = []
    for line in (REPO / "benchmarks" / "bench_queues" / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            args = _parser().parse_args(shlex.split(line))
            algos = tuple(args.algos) if args.algos else None
            cells += plan(args.name, "bench", tuple(args.tasks), algos)
    return cells


def test_tracked_queues_cover_the_main_table_and_share_no_task():
    """Every bench main-table cell is finished (a row in the tracked results file, seed-batched
    GPU rows included) or planned by a line of the two tracked queues, which share no task."""
    a, b = _queue_cells("a.txt"), _queue_cells("b.txt")
    assert not {c.task for c in a} & {c.task for c in b}
    rows = ResultStore(REPO / "docs" / "results" / "results.jsonl").rows()
    done = {(variant(r), r["seed"]) for r in rows if r["scale"] == "bench" and r.get("algo")}
    queued = {(variant(c), c.seed) for c in a + b}
    left = [c.label() for c in plan("main", "bench") if (variant(c), c.seed) not in done | queued]
    assert left == []
