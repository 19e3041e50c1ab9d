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
#   bash benchmarks/bench_queue.sh merge DIR [RESULTS [DOC]]   # default: the tracked files
#
# QUEUE is a text file with one experiments command per line: the arguments after
# `python -m dawm_pipeline.experiments`, e.g. `main --tasks hopper-medium --algos iql`; `#`
# starts a comment. Each line runs with `--scale bench --threads 1` (BENCH_SCALE and
# BENCH_THREADS change them) and DIR's --out and --results. A line is read when it is
# reached, so lines appended to a running queue run too. `start` again resumes: finished
# cells skip, interrupted ones resume from their checkpoints. One queue per core.
set -euo pipefail

usage() {
    sed -n '2,21p' "$0" >&2
    exit 2
}
fail() {
    echo "bench_queue.sh: $*" >&2
    exit 2
}

repo=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

running() { # the queues of DIR still running
    local pidfile
    for pidfile in "$dir"/*.pid; do
        [ -e "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && basename "$pidfile" .pid
    done
    return 0
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
    queue=$(cd "$(dirname "$3")" && pwd)/$(basename "$3")
    [ -f "$queue" ] || fail "queue file $3 not found: write one experiments command per line"
    [ -x "$dir/src/.venv/bin/python" ] || fail "$dir/src has no .venv: run 'setup' first"
    name=$(basename "$queue" .txt)
    if [ -e "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
        fail "queue $name already runs (pid $(cat "$dir/$name.pid"))"
    fi
    [ -e "$dir/results.jsonl" ] || cp "$repo/docs/results/results.jsonl" "$dir/results.jsonl"
    nohup bash -c '
        dir=$1 queue=$2 n=1
        cd "$dir/src"
        while [ "$n" -le "$(wc -l < "$queue")" ]; do
            line=$(sed -n "${n}p" "$queue" | sed "s/#.*//")
            n=$((n + 1))
            [ -n "${line// /}" ] || continue
            echo "[bench_queue] $(date -u +%FT%TZ) $line"
            # shellcheck disable=SC2086  # the line is a list of arguments
            .venv/bin/python -m dawm_pipeline.experiments $line \
                --scale "${BENCH_SCALE:-bench}" --threads "${BENCH_THREADS:-1}" \
                --out "$dir/runs" --results "$dir/results.jsonl" --no-doc || true
        done
        echo "[bench_queue] $(date -u +%FT%TZ) queue done"
    ' bench_queue "$dir" "$queue" >>"$dir/log_$name.txt" 2>&1 &
    echo $! >"$dir/$name.pid"
    echo "queue $name started (pid $!): log $dir/log_$name.txt"
    ;;
merge)
    results=${3:-$repo/docs/results/results.jsonl}
    doc=${4:-$repo/docs/results.md}
    [ -f "$dir/results.jsonl" ] || fail "$dir/results.jsonl not found: nothing ran from $dir"
    cd "$repo"
    .venv/bin/python - "$dir/results.jsonl" "$results" <<'PY'
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
