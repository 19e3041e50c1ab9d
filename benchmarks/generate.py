"""Synthetic-transition generation speed: PyTorch eager vs torch.compile vs dawm_kernels.

Measures transitions/s (one generated sequence of horizon H gives H transitions) for
(a) diffusion_wm's DDIMSampler (k = 3 steps, CFG as one 2B forward, token-0 inpainting) plus
the IDM's mean action on every window, in eager PyTorch; (b) the same with the U-Net and the
IDM under torch.compile; (c) dawm_kernels on the CPU; (d) dawm_kernels on CUDA when a device
is present, in float32 (`cuda`) and with TF32 tensor-core GEMMs (`cuda-tf32`), beside (a) and (b)
on that device (`eager-cuda`, `compile-cuda`), with their ratios at every batch. Hopper-shaped
data (obs 11, act 3, H 7 -> L 8, x_dim 12, context 14, guide 1), IDM 2x256 with history 1, U-Net dim 32 and 64 with dim_mults (1, 2, 4). Achieved GFLOP/s
are printed next to the machine's measured sgemm rate (torch.mm 2048^2, same threads).
All figures come from one run, side by side; prints JSON.

    .venv/bin/python benchmarks/generate.py [--dims 32 64] [--batches 256 1024 4096 8192]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from typing import Any

import dawm_kernels as dk
import numpy as np
import torch
from diffusion_wm import DiffusionWorldModel, Normalizer, SamplingConfig, WorldModelConfig
from inverse_dynamics import IDMConfig, InverseDynamicsModel
from torch.utils.flop_counter import FlopCounterMode

OBS, ACT, H, HISTORY, STEPS, GUIDANCE = 11, 3, 7, 1, 3, 1.2
SAMPLING = SamplingConfig(steps=STEPS, guidance=GUIDANCE)
TORCH_MODES = ("eager", "compile", "eager-cuda", "compile-cuda")
ENGINE_MODES = {  # mode -> the engine's (device, precision)
    "engine": ("cpu", "float32"),
    "cuda": ("cuda", "float32"),
    "cuda-tf32": ("cuda", "tf32"),  # tensor-core GEMMs (compute capability >= 8.0)
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_models(dim: int) -> tuple[DiffusionWorldModel, InverseDynamicsModel]:
    """Randomly initialized models of the pipeline's shapes (speed does not depend on values)."""
    torch.manual_seed(0)
    cfg = WorldModelConfig(
        x_dim=OBS + 1,
        length=H + 1,  # token 0 is the inpainted s_t, then the H generated steps
        context_dim=OBS + ACT,
        guide_dim=1,
        dim=dim,
        dim_mults=(1, 2, 4),
        inpaint_tokens=1,
    )
    wm = DiffusionWorldModel(cfg, "cpu")
    ones = np.ones
    wm.normalizer = Normalizer(
        -ones(OBS + 1, np.float32),
        ones(OBS + 1, np.float32),
        np.zeros(OBS + ACT, np.float32),
        ones(OBS + ACT, np.float32),
        np.zeros(1, np.float32),
        ones(1, np.float32),
    )
    idm = InverseDynamicsModel(IDMConfig(OBS, ACT, history=HISTORY), -ones(ACT), ones(ACT))
    return wm, idm.eval()


class TorchGenerator:
    """DDIMSampler + IDM in PyTorch: the reference path the engine replaces.

    On CUDA the models are copies moved there; a call takes host tensors and returns host
    actions, so its time includes both transfers, as the engine's does."""

    def __init__(
        self, wm: DiffusionWorldModel, idm: InverseDynamicsModel, compiled: bool, device: str
    ):
        self.device = torch.device(device)
        ema, idm = copy.deepcopy(wm.ema).to(device), copy.deepcopy(idm).to(device)
        self.wm, self.sampler = wm, wm.sampler(SAMPLING)
        self.net = torch.compile(ema, dynamic=True) if compiled else ema
        self.idm = torch.compile(idm, dynamic=True) if compiled else idm
        self.idm_model = idm
        self.tn = wm.normalizer.torch(device)

    @torch.inference_mode()
    def __call__(self, s: torch.Tensor, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        tn, cfg, dev = self.tn, self.wm.config, self.device
        s, a, g = s.to(dev), a.to(dev), g.to(dev)
        context, guide = tn.context(torch.cat([s, a], 1)), tn.guide(g)
        known = torch.zeros(len(s), cfg.length, cfg.x_dim, device=dev)
        known[:, 0, :OBS] = s
        mask = torch.zeros(cfg.length, cfg.x_dim, dtype=torch.bool, device=dev)
        mask[0] = True
        x = self.sampler.sample(
            self.net, context, guide, guidance=SAMPLING.guidance, inpaint=(mask, tn.x(known))
        )
        states = tn.x_inverse(x)[:, 1:, :OBS]
        seq = torch.cat([s[:, None].expand(-1, HISTORY + 1, -1), states], 1)
        windows = torch.stack([seq[:, i : i + HISTORY + 2] for i in range(1, H)], 1)
        mean, _ = self.idm(windows.reshape(-1, HISTORY + 2, OBS))
        return self.idm_model._to_action(mean).cpu()


def flops_per_sequence(wm: DiffusionWorldModel, idm: InverseDynamicsModel) -> float:
    """Multiply-add FLOPs (x2) of one generated sequence: k steps x 2 CFG passes of the
    U-Net plus H-1 IDM windows, counted by torch's FlopCounterMode."""
    cfg = wm.config
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        wm.ema(
            torch.zeros(1, cfg.length, cfg.x_dim),
            torch.zeros(1, dtype=torch.int64),
            torch.zeros(1, OBS + ACT),
            torch.zeros(1, 1),
            torch.ones(1),
        )
    unet = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        idm(torch.zeros(1, HISTORY + 2, OBS))
    return STEPS * 2 * unet + (H - 1) * fc.get_total_flops()


def nominal_peak_gflops(threads: int) -> tuple[float | None, str]:
    """threads x clock x FP32 FLOP/cycle: 32 for two 256-bit FMA pipes (AVX2 cores, AMD Zen 4
    even with AVX-512), 64 for Intel cores with two 512-bit FMA units. Nominal, not measured."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return None, "no /proc/cpuinfo"
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    intel512 = "GenuineIntel" in info and " avx512f" in flags
    per_cycle = 64 if intel512 else 32 if " fma" in flags else 8
    if not mhz:
        return None, "clock unknown"
    rule = f"{threads} threads x {mhz[0]:.0f} MHz x {per_cycle} FLOP/cycle"
    return threads * mhz[0] * 1e-3 * per_cycle, rule


def sgemm_gflops(threads: int) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(10):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * 2048**3 / best / 1e9


def timed(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def inputs(batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rs = np.random.default_rng(batch)
    return (
        rs.uniform(-1, 1, (batch, OBS)).astype(np.float32),
        rs.uniform(-1, 1, (batch, ACT)).astype(np.float32),
        rs.normal(size=(batch, 1)).astype(np.float32),
    )


def bench_model(
    dim: int,
    batches: list[int],
    modes: list[str],
    threads: int,
    peak: float,
    nominal: float | None,
    max_seconds: float,
) -> list[dict[str, Any]]:
    wm, idm = build_models(dim)
    flops = flops_per_sequence(wm, idm)
    rows: list[dict[str, Any]] = []

    def record(mode: str, batch: int, seconds: float | None, note: str = "") -> None:
        row: dict[str, Any] = {"dim": dim, "mode": mode, "batch": batch}
        if seconds is None:
            row["skipped"] = note
        else:
            gflops = flops * batch / seconds / 1e9
            row |= {
                "transitions_per_s": round(batch * H / seconds, 1),
                "seconds": round(seconds, 4),
                "gflops": round(gflops, 2),
                "pct_of_sgemm": round(100 * gflops / peak, 1),
                "pct_of_nominal_peak": round(100 * gflops / nominal, 1) if nominal else None,
            }
        rows.append(row)
        log(json.dumps(row))

    for mode in modes:
        if mode in TORCH_MODES:
            torch.set_num_threads(threads)
            if mode.endswith("-cuda") and not torch.cuda.is_available():
                for b in batches:
                    record(mode, b, None, "torch sees no CUDA device")
                continue
            try:
                gen = TorchGenerator(
                    wm,
                    idm,
                    compiled=mode.startswith("compile"),
                    device="cuda" if mode.endswith("-cuda") else "cpu",
                )
                warm = [torch.from_numpy(a) for a in inputs(batches[0])]
                t0 = time.perf_counter()
                gen(*warm)  # compiles (dynamic shapes: once for all batches)
                log(f"dim {dim} {mode}: warm-up {time.perf_counter() - t0:.1f}s")
            except Exception as err:  # torch.compile needs a working C++ toolchain
                for b in batches:
                    record(mode, b, None, f"{type(err).__name__}: {err}"[:200])
                continue
            slow = False
            for b in batches:
                if slow:
                    record(mode, b, None, f"a smaller batch already took > {max_seconds}s")
                    continue
                args = [torch.from_numpy(a) for a in inputs(b)]
                seconds = timed(lambda args=args, gen=gen: gen(*args), reps=2 if b <= 1024 else 1)
                slow = seconds > max_seconds
                record(mode, b, seconds)
        elif mode in ENGINE_MODES:
            device, precision = ENGINE_MODES[mode]
            if device == "cuda":
                ok, why = dk.cuda_status()
                if not ok:
                    for b in batches:
                        record(mode, b, None, why)
                    continue
            try:
                engine = dk.Engine.from_exports(
                    wm.export(SAMPLING), idm.export(), device=device, threads=threads,
                    precision=precision,
                )  # fmt: skip
            except ValueError as err:  # tf32 on a device below compute capability 8.0
                for b in batches:
                    record(mode, b, None, str(err)[:200])
                continue
            engine.generate(*inputs(64), seed=0)
            for b in batches:
                args = inputs(b)
                seconds = timed(
                    lambda args=args, engine=engine: engine.generate(*args, seed=1),
                    reps=3 if b <= 1024 else 2,
                )
                record(mode, b, seconds)
    return rows


def best(rows: list[dict[str, Any]], dim: int, mode: str) -> float | None:
    vals = [
        r["transitions_per_s"]
        for r in rows
        if r["dim"] == dim and r["mode"] == mode and "transitions_per_s" in r
    ]
    return max(vals) if vals else None


def at(rows: list[dict[str, Any]], dim: int, mode: str, batch: int) -> float | None:
    """The rate of one (dim, mode, batch) row, None if it was not measured."""
    vals = [
        r.get("transitions_per_s")
        for r in rows
        if r["dim"] == dim and r["mode"] == mode and r["batch"] == batch
    ]
    return vals[0] if vals else None


def ratio(rates: dict[str, float | None], a: str, b: str) -> float | None:
    ra, rb = rates[a], rates[b]
    return round(ra / rb, 2) if ra and rb else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1024, 4096, 8192])
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=[*ENGINE_MODES, *TORCH_MODES],
        default=["eager", "compile", "engine", "cuda"],
    )
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=20.0,
        help="skip larger batches of a PyTorch mode once one run takes longer",
    )
    args = parser.parse_args()

    peak = sgemm_gflops(args.threads)
    nominal, nominal_rule = nominal_peak_gflops(args.threads)
    wm, idm = build_models(32)
    engine_probe = dk.Engine.from_exports(wm.export(SAMPLING), idm.export(), threads=1)
    rows: list[dict[str, Any]] = []
    for dim in args.dims:
        rows += bench_model(
            dim, args.batches, args.modes, args.threads, peak, nominal, args.max_seconds
        )
    speedups = {}
    for dim in args.dims:
        rates = {m: best(rows, dim, m) for m in (*ENGINE_MODES, *TORCH_MODES)}
        speedups[f"dim{dim}"] = {
            "engine_vs_eager": ratio(rates, "engine", "eager"),
            "engine_vs_compile": ratio(rates, "engine", "compile"),
            "cuda_vs_eager_cuda": ratio(rates, "cuda", "eager-cuda"),
            "cuda_vs_compile_cuda": ratio(rates, "cuda", "compile-cuda"),
            "cuda_tf32_vs_compile_cuda": ratio(rates, "cuda-tf32", "compile-cuda"),
            "best_transitions_per_s": rates,
            # issue #16 item 3 asks the GPU engine to win at every batch, not only at its best
            "per_batch_vs_compile_cuda": {
                b: {
                    m: ratio(
                        {m: at(rows, dim, m, b), "c": at(rows, dim, "compile-cuda", b)}, m, "c"
                    )
                    for m in ("cuda", "cuda-tf32")
                }
                for b in args.batches
            },
        }
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    report = {
        "machine": {
            "cpu": cpu,
            "threads": args.threads,
            "engine_isa": engine_probe.isa,
            "cuda": dk.cuda_status()[1],
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "sgemm_gflops_2048": round(peak, 1),
            "nominal_peak_gflops": round(nominal, 1) if nominal else None,
            "nominal_peak_rule": nominal_rule,
            "load_average_1min": round(os.getloadavg()[0], 2),
            "torch": torch.__version__,
            # PyTorch's defaults: convolutions may use TF32, plain matmuls may not
            "torch_cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "torch_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        },
        "setup": {
            "obs": OBS,
            "act": ACT,
            "horizon": H,
            "ddim_steps": STEPS,
            "guidance": GUIDANCE,
            "idm": "2x256 relu, history 1",
            "dim_mults": [1, 2, 4],
        },
        "results": rows,
        "best_batch_speedup": speedups,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
