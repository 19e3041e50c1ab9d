"""offline_agents update speed, working tree against a git revision, on a shared machine.

On a machine other jobs keep busy, whole-run timings drift by ±10% between runs, so a
change worth a few percent cannot be seen by timing before and after. Here both versions
train side by side in one process (the revision's package imported under another name),
in short chunks of updates whose order alternates, and each is timed per second of CPU
time (``time.process_time``): both see the same load, and the ratio of the totals
resolves differences of about 3%. Hopper's sizes, as ``benchmarks/agents.py``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/agents_ab.py --rev HEAD~1   # JSON lines
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import agents_data as data
import offline_agents as ours
import torch

ROOT = Path(__file__).resolve().parents[1]
PKG = "packages/offline_agents/src/offline_agents"


def import_revision(rev: str, into: Path) -> ModuleType:
    """The package as it was at ``rev``, importable as ``offline_agents_ref``."""
    dest = into / "offline_agents_ref"
    dest.mkdir()
    files = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, f"{PKG}/"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for f in files:
        blob = subprocess.run(
            ["git", "show", f"{rev}:{f}"], cwd=ROOT, check=True, capture_output=True
        )
        (dest / Path(f).name).write_bytes(blob.stdout)
    sys.path.insert(0, str(into))
    return importlib.import_module("offline_agents_ref")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", default="HEAD", help="git revision to compare the working tree with")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--chunks", type=int, default=30, help="timed chunks per version")
    ap.add_argument("--chunk", type=int, default=20, help="updates per chunk")
    ap.add_argument("--algos", default="td3bc,iql")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ref = import_revision(args.rev, Path(tmp))
        d = data.hopper_shaped(100_000)
        keys = ("observations", "actions", "rewards", "next_observations", "terminals")
        o, a = d["observations"].shape[1], d["actions"].shape[1]
        versions = {args.rev: ref, "working tree": ours}
        buffers = {
            k: m.ReplayBuffer(m.Transitions(*(d[key] for key in keys))) for k, m in versions.items()
        }
        for algo in args.algos.split(","):
            for dtype in args.dtypes.split(","):
                agents = {}
                for k, m in versions.items():
                    cls = {"td3bc": m.TD3BC, "iql": m.IQL}[algo]
                    agents[k] = cls(o, a, 1.0, cls.config_cls(matmul_dtype=dtype))
                    agents[k].train(buffers[k], 2 * args.chunk, progress=False)  # warm-up
                cpu = dict.fromkeys(versions, 0.0)
                for c in range(args.chunks):
                    for k in list(versions)[:: 1 if c % 2 == 0 else -1]:
                        agent = agents[k]
                        t0 = time.process_time()
                        agent.train(buffers[k], agent.step + args.chunk, progress=False)
                        cpu[k] += time.process_time() - t0
                rate = {k: args.chunks * args.chunk / t for k, t in cpu.items()}
                r_ref, r_new = rate[args.rev], rate["working tree"]
                row = {"algo": algo, "dtype": dtype, "threads": args.threads,
                       "updates": args.chunks * args.chunk, "rev": args.rev,
                       "rev_cpu_ups": round(r_ref, 1), "tree_cpu_ups": round(r_new, 1),
                       "ratio": round(r_new / r_ref, 3)}  # fmt: skip
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
