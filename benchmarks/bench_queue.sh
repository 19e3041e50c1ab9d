#!/usr/bin/env bash
# The bench table's cells (issue #19) in the background, across sittings and machines.
#
# Cells run from a frozen clone of the source (DIR/src, its own .venv), so editing the
# repository never changes a running cell. Stage folders (DIR/runs) and the working results
# file (DIR/results.jsonl, seeded from the tracked one, so finished cells skip) stay under DIR;
# `merge` copies the new rows into the tracked results file and rewrites docs/results.md.
# Stage folders stay on the machine: a new machine trains its world models again.
#
#   bash benchmarks/bench_queue.sh setup DIR          # clone HEAD into DIR/src, make setup there
#   bash benchmarks/bench_queue.sh update DIR         # move DIR/src to HEAD (no queue running)
#   bash benchmarks/bench_queue.sh start DIR QUEUE    # run QUEUE's lines in the background
#   bash benchmarks/bench_queue.sh stop DIR QUEUE     # stop it, the cell it runs included
#   bash benchmarks/bench_queue.sh status DIR         # each queue: running?, its line, progress
#   bash benchmarks/bench_queue.sh merge DIR|FILE [RESULTS [DOC]]  # into the tracked files
#
# benchmarks/bench_queues/{a,b}.txt hold what is left of issue #19's table, in its order, split
# so that the two queues share no task. A QUEUE file has one experiments command per line:
# the arguments after `python -m dawm_pipeline.experiments`, e.g. `main --tasks hopper-medium
# --algos iql`; `#` starts a comment. Each line runs with `--scale bench --threads 1`
# (BENCH_SCALE and BENCH_THREADS change them) and DIR's --out and --results. A line is read
# when it is reached, so lines appended to a running queue run too. `start` again resumes:
# finished cells skip, interrupted ones resume from their checkpoints. One queue per core,
# and queues that run at once should not share a task: cells of one task share stage
# folders, and an ablation's line also runs the main table's cells of its tasks.
set -euo pipefail

usage() { # the header above
    awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}
fail() {
    echo "bench_queue.sh: $*" >&2
    exit 2
}

repo=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
case $cmd in setup | start) mkdir -p "$dir" ;; esac
if [ "$cmd" = merge ] && [ -f "$dir" ]; then
    source=$(realpath "$dir") # a results file of its own, e.g. a GPU pass's bench_gpu_*.jsonl
else
    [ -d "$dir" ] || fail "$dir is not a folder: run 'setup' first"
    dir=$(cd "$dir" && pwd)
    source=$dir/results.jsonl
fi

alive() { # whether the process group in pid file $1 still runs
    [ -e "$1" ] && kill -0 -- "-$(cat "$1")" 2>/dev/null
}

running() { # the queues of DIR still running
    local pidfile
    for pidfile in "$dir"/*.pid; do
        if alive "$pidfile"; then basename "$pidfile" .pid; fi
    done
}

case $cmd in
setup)
    [ -e "$dir/src" ] && fail "$dir/src exists: use 'update' to move it to HEAD"
    git clone -q "$repo" "$dir/src"
    git -C "$dir/src" checkout -q --detach "$(git -C "$repo" rev-parse HEAD)"
    make -C "$dir/src" setup
    [ -e "$dir/results.jsonl" ] || cp "$repo/docs/results/results.jsonl" "$dir/results.jsonl"
    echo "ready: $dir/src at $(git -C "$dir/src" rev-parse --short HEAD)"
    ;;
update)
    [ -d "$dir/src/.git" ] || fail "$dir/src is not a clone: run 'setup' first"
    busy=$(running)
    [ -z "$busy" ] || fail "queues still running from $dir/src ($busy): wait or stop them first"
    git -C "$dir/src" fetch -q "$repo" HEAD
    git -C "$dir/src" checkout -q --detach FETCH_HEAD
    make -C "$dir/src" setup
    echo "updated: $dir/src at $(git -C "$dir/src" rev-parse --short HEAD)"
    ;;
start)
    [ $# -eq 3 ] || usage
    [ -f "$3" ] || fail "queue file $3 not found: write one experiments command per line"
    queue=$(cd "$(dirname "$3")" && pwd)/$(basename "$3")
    [ -x "$dir/src/.venv/bin/python" ] || fail "$dir/src has no .venv: run 'setup' first"
    name=$(basename "$queue" .txt)
    alive "$dir/$name.pid" && fail "queue $name already runs (process group $(cat "$dir/$name.pid"))"
    [ -e "$dir/results.jsonl" ] || cp "$repo/docs/results/results.jsonl" "$dir/results.jsonl"
    # its own session, so `stop` reaches the cell it runs too
    setsid nohup bash -c '
        set -f  # a line is a list of arguments, never a glob
        dir=$1 queue=$2 n=1
        cd "$dir/src"
        while [ "$n" -le "$(awk "END {print NR}" "$queue")" ]; do
            line=$(sed -n "${n}p" "$queue" | sed "s/#.*//" | tr -d "\r")
            n=$((n + 1))
            [ -n "${line// /}" ] || continue
            echo "[bench_queue] $(date -u +%FT%TZ) $line"
            # shellcheck disable=SC2086
            .venv/bin/python -m dawm_pipeline.experiments $line \
                --scale "${BENCH_SCALE:-bench}" --threads "${BENCH_THREADS:-1}" \
                --out "$dir/runs" --results "$dir/results.jsonl" --no-doc ||
                echo "[bench_queue] $(date -u +%FT%TZ) exit status $?: $line"
        done
        echo "[bench_queue] $(date -u +%FT%TZ) queue done"
    ' bench_queue "$dir" "$queue" >>"$dir/log_$name.txt" 2>&1 </dev/null &
    echo $! >"$dir/$name.pid"
    echo "queue $name started (process group $!): log $dir/log_$name.txt"
    ;;
stop)
    [ $# -eq 3 ] || usage
    name=$(basename "$3" .txt)
    alive "$dir/$name.pid" || fail "queue $name is not running"
    kill -- "-$(cat "$dir/$name.pid")"
    echo "queue $name stopped; 'start' resumes it"
    ;;
status)
    [ $# -eq 2 ] || usage
    found=
    for log in "$dir"/log_*.txt; do # a queue that ever started has a log
        [ -e "$log" ] || continue
        found=1
        name=${log##*/log_}
        name=${name%.txt}
        state=stopped
        alive "$dir/$name.pid" && state="running (process group $(cat "$dir/$name.pid"))"
        echo "queue $name: $state"
        { grep -a '^\[bench_queue\]' "$log" || true; } | tail -n 1 |
            sed 's/^\[bench_queue\] /  last started: /'
        # the newest progress bar or message: bars redraw with \r and colour with escapes
        now=$(tail -c 8000 "$log" | tr '\r' '\n' | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' |
            { grep -av '^[[:space:]]*$' || true; } | tail -n 1)
        [ -z "$now" ] || echo "  now: $now"
    done
    [ -n "$found" ] || echo "no queue has been started from $dir"
    if [ -f "$source" ]; then
        cd "$repo"
        .venv/bin/python - "$source" docs/results/results.jsonl <<'PY'
import sys

from dawm_pipeline.experiments import ResultStore

source, tracked = (ResultStore(p) for p in sys.argv[1:])
new = len(source.keys() - tracked.keys())
print(f"{source.path}: {len(source.rows())} rows, {new} not in {tracked.path} yet ('merge' adds them)")
PY
    fi
    ;;
merge)
    # given paths are the caller's; the defaults stay relative, as the report prints them
    results=docs/results/results.jsonl doc=docs/results.md
    [ $# -lt 3 ] || results=$(realpath -m "$3")
    [ $# -lt 4 ] || doc=$(realpath -m "$4")
    [ -f "$source" ] || fail "$source not found: nothing ran from $dir"
    cd "$repo"
    .venv/bin/python - "$source" "$results" <<'PY'
import sys

from dawm_pipeline.experiments import ResultStore

source, target = (ResultStore(p) for p in sys.argv[1:])
added = sum(target.add(row) for row in source.rows())
print(f"merged {added} new rows into {target.path}")
PY
    .venv/bin/python -m dawm_pipeline.experiments report --results "$results" --doc "$doc"
    ;;
*)
    usage
    ;;
esac
