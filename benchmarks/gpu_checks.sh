#!/usr/bin/env bash
# Issue #16's GPU checks in one pass on a lent GPU machine (about 8 minutes), from the
# repository root (`bash benchmarks/gpu_checks.sh [STEP...]`, steps: tests wm_speed agents
# paper_scale curves dk_cuda, and the opt-in wm_compile, engine_tf32, paper_run and
# bench_cell; none named: all but the opt-in ones),
# logs under $WORK, packed after every step into $OUT/gpu_checks.tgz (one
# file: a device run returns few files, and a run stopped at its limit keeps what it has).
# The machine has python3 with CUDA torch but not our
# pure-Python needs: carry them as wheels in .whl/ (docs/gpu_h100/README.md).
#   1. CUDA tests: the captured world-model step and agent updates against eager, the engine
#   2. world-model training rate, float32/bf16 x eager/graph (paper network and bench network)
#   3. agents: one and ten members, eager and captured
#   4. paper_scale.py --fast: the projected hours per task with the speed settings
#   5. bf16 + graph against float32 eager: loss and held-out fidelity curves (float32 on two
#      seeds for the seed-to-seed spread, bf16 + graph on one)
#   6. the engine's CUDA tests (dk_cuda); opt-in: bench cells of issue #19 (bench_cell), the
#      TF32 engine's parity tests and per-batch speed against torch.compile (engine_tf32)
# bench_cell starts first and runs beside the other steps (one process per task and algorithm),
# so the rates of steps named with it are not speed figures.
# SKIP_BUILD=1 skips the engine's build (csrc unchanged since the last GPU pass): the steps that
# need the engine (paper_scale, dk_cuda, engine_tf32) are then refused, and bench cells sample
# with PyTorch (as they do with BENCH_SAMPLER=torch, which starts them before the build ends).
set -u
STEPS="$*"
OUT=${OUT:-/tmp/gpu_checks}
WORK=/tmp/gpu_checks_work
mkdir -p "$OUT" "$WORK"
pack() {  # atomically, so steps that finish together cannot clobber each other's archive
    tar czf "$OUT/.pack.$BASHPID" -C "$WORK" . && mv "$OUT/.pack.$BASHPID" "$OUT/gpu_checks.tgz"
}
export PYTHONUNBUFFERED=1 MUJOCO_GL=egl
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/dk:/tmp/site:packages/inverse_dynamics/src:packages/diffusion_wm/src:packages/offline_agents/src:packages/dawm_pipeline/src:benchmarks:tests/diffusion_wm:tests/offline_agents
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$WORK/gpu.txt"
python3 -c "import torch; print(torch.__version__, torch.version.cuda)" >>"$WORK/gpu.txt"
if [ "${SKIP_BUILD:-0}" = 1 ]; then
    for s in paper_scale dk_cuda engine_tf32; do
        [[ " $STEPS " == *" $s "* ]] || [ -z "$STEPS" ] && { echo "SKIP_BUILD=1: $s needs the engine; name the steps without it" >&2; exit 2; }
    done
    echo "build skipped (SKIP_BUILD=1)" >"$WORK/build.log"
    sampler=torch
else
    (CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=90" nice -n 19 timeout 300 python3 -m pip install --no-deps \
        --no-build-isolation --target /tmp/dk . >"$WORK/build.log" 2>&1; echo "build rc $?" >>"$WORK/build.log") &
    sampler=${BENCH_SAMPLER:-native}
    case $sampler in
        native | torch) ;;
        *) echo "BENCH_SAMPLER must be native or torch, got '$sampler'" >&2; exit 2 ;;
    esac
fi
wait_build() {  # the build's log gets its last line when it ends; works from subshells too
    [ "${SKIP_BUILD:-0}" = 1 ] && return
    until grep -q "^build rc" "$WORK/build.log" 2>/dev/null; do sleep 2; done
}
step() {  # step NAME SECONDS CMD...: run with a time limit, log to $WORK/NAME.txt
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" >"$WORK/$name.txt" 2>&1
    echo "== $name rc $? in $((SECONDS - t0)) s" | tee -a "$WORK/steps.txt"
    pack
}
want() {  # want STEP: on the command line, or no steps named (all of them)
    [ -z "$STEPS" ] || [[ " $STEPS " == *" $1 "* ]]
}
if [[ " $STEPS " == *" bench_cell "* ]]; then  # opt-in: issue #19 cells on the GPU
    # BENCH_TASKS / BENCH_ALGOS pick them, one process per (task, algorithm), each in its own
    # stage store (two processes must never share a stage): so each algorithm's rows come from
    # its own GPU-trained world model, IDM and generated data. Their rows (device cuda) come back
    # in the archive as bench_gpu_<task>_<algo>.jsonl, to merge into docs/results/results.jsonl
    # (`bench_queue.sh merge`, which adds only the rows it lacks).
    # A cell finished either way, seed-batched or alone, skips in both: pick cells the CPU
    # queues do not run (or have not reached), so that no cell is trained twice.
    # BENCH_EXPERIMENT (default main) runs an ablation instead, e.g. walker2d-medium-replay's
    # horizon: each results file starts as a copy of the tracked one, so finished cells skip.
    for task in ${BENCH_TASKS:-hopper-medium-expert}; do
        for algo in ${BENCH_ALGOS:-td3bc iql}; do
            cp docs/results/results.jsonl "$WORK/bench_gpu_${task}_$algo.jsonl"
            (
                [ "$sampler" = native ] && wait_build
                step "bench_cell_${task}_$algo" "${BENCH_SECONDS:-400}" python3 -m \
                    dawm_pipeline.experiments "${BENCH_EXPERIMENT:-main}" --scale bench \
                    --tasks "$task" --algos "$algo" \
                    --device cuda --cuda-graph --batch-seeds --sampler "$sampler" \
                    --eval-workers "${BENCH_EVAL_WORKERS:-4}" \
                    --threads "${BENCH_THREADS:-6}" --out "/tmp/bench_gpu_$algo" \
                    --results "$WORK/bench_gpu_${task}_$algo.jsonl" --no-doc
            ) &
        done
    done
fi
if want tests; then
    step tests_graph 120 python3 -m pytest -q -rA -p no:cacheprovider \
        ${GRAPH_TESTS:-tests/diffusion_wm/test_fast_training.py tests/offline_agents/test_graphed.py \
            tests/offline_agents/test_evaluate_policy.py}
fi
if want wm_speed; then
    wait_build  # the engine's compile would share the CPU with the timed steps
    step wm_speed_paper 110 python3 benchmarks/diffusion_wm_speed.py --device cuda --threads 16 \
        --dims 128 --dim-mults 1 4 8 --batches 64 --train-steps 400 --sample-batch 8192 --repeats 2 \
        --profile-steps 20
    step wm_speed_bench 60 python3 benchmarks/diffusion_wm_speed.py --device cuda --threads 16 \
        --dims 64 --dim-mults 1 2 --batches 256 --train-steps 400 --sample-batch 8192 --repeats 2
fi
if want agents; then
    step agents 70 python3 benchmarks/agents_batched.py --device cuda --cuda-graph --threads 16 \
        --members 10 --chunks 2 --chunk 1000
fi
if want paper_scale; then
    wait_build  # generation times the CUDA engine
    step paper_scale 80 python3 benchmarks/paper_scale.py --device cuda --threads 16 --seconds 3 \
        --fast --out "$WORK/paper_scale_fast.json"
fi
if want curves; then  # side by side on one GPU: their steps/s are not speed figures
    curves=()
    for mode in "float32 0" "float32 1" "bfloat16 0"; do
        set -- $mode
        graph=""
        [ "$1" = bfloat16 ] && graph="--cuda-graph"
        step "curve_$1_seed$2" 100 python3 benchmarks/wm_quality.py --device cuda \
            --preset quick --steps 2000 --every 500 --precision "$1" $graph --seed "$2" \
            --work /tmp/wmq --threads 4 &
        curves+=($!)
    done
    wait "${curves[@]}"  # these three only: bench cells may still be running
    cat "$WORK"/curve_*.txt | grep '^{' >"$WORK/curves.jsonl"
fi
if [[ " $STEPS " == *" wm_compile "* ]]; then  # opt-in: does kernel fusion lift the graph?
    wait_build
    step wm_compile 300 python3 benchmarks/diffusion_wm_speed.py --device cuda --threads 16 \
        --dims 128 --dim-mults 1 4 8 --batches 64 --train-steps 400 --sample-batch 1024 \
        --repeats 1 --modes bfloat16_graph bfloat16_compiled_graph --profile-steps 20
fi
if [[ " $STEPS " == *" engine_tf32 "* ]]; then  # opt-in: item 3, the tensor-core engine
    wait_build
    step engine_tf32_tests 120 python3 -m pytest -q -rA -p no:cacheprovider \
        tests/dawm_kernels/test_dk_parity.py -k tf32
    step engine_tf32_speed 300 python3 benchmarks/generate.py --threads 16 --dims 32 64 \
        --batches 256 1024 4096 16384 --modes cuda cuda-tf32 compile-cuda
fi
if [[ " $STEPS " == *" paper_run "* ]]; then  # opt-in: item 4, the paper preset for real
    # hopper-medium-replay at --preset paper with the speed settings, stopped at its limit:
    # its world-model steps/s (the log's progress bar) against paper_scale.py's projection
    wait_build  # its rate is compared with a projection: not beside nvcc (nor bench cells)
    step paper_run "${PAPER_SECONDS:-240}" python3 -m dawm_pipeline --env hopper-medium-replay \
        --preset paper --device cuda --cuda-graph --wm.precision bfloat16 --threads 16 \
        --out /tmp/paper_run
fi
if want dk_cuda; then
    wait_build
    step dk_cuda 90 python3 -m pytest -q -p no:cacheprovider tests/dawm_kernels -k cuda
fi
wait
tail -3 "$WORK/build.log" | tee -a "$WORK/steps.txt"
pack
