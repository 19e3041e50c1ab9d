"""diffusion_wm speed on DAWM-shaped data: training steps/s and sampling transitions/s.

Hopper-shaped: x = L = 8 tokens (H = 7) of 12 values (11 state dims + reward), context
14 = s_t (11) + a_t (3), guide 1 (return-to-go), token 0 inpainted. Sampling: k = 3 DDIM steps
with CFG (ω = 1.2, one 2B-batch forward per step) and, side by side, without CFG (ω = 1).
A transition is one (s, a, r, s') of the H a sequence yields. Side by side, the floors: a bare
loss/backward/Adam step on a fixed batch, and 3 bare network forwards; `*_vs_floor` is the
library's rate over the floor's (1.0 = no overhead). Training is timed in each of --modes
(float32 or bfloat16: autocast on CUDA, the convolutions' GEMMs on CPU; eager or one captured
CUDA graph per step; on CPU also with dawm_kernels' native training kernels), side by side,
`*_vs_eager` over float32 eager.
Prints JSON.

    .venv/bin/python benchmarks/diffusion_wm_speed.py [--threads 2] [--dims 32 64]
    python benchmarks/diffusion_wm_speed.py --device cuda --dims 128 --dim-mults 1 4 8  # paper
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from diffusion_wm import DiffusionWorldModel, SamplingConfig, WorldModelConfig, __version__

L, X_DIM, C_DIM, G_DIM = 8, 12, 14, 1
H = L - 1
EAGER = "float32"
MODES = {  # fit's (precision, cuda_graph), whether the U-Net is torch.compile'd first, and
    # which of dawm_kernels' native CPU training kernels it uses: "norm" the Mish(GroupNorm)
    # pair, "all" that and the copies of bfloat16 GEMM convolutions (the pipeline's default)
    "float32": ("float32", False, False, ""),
    "bfloat16": ("bfloat16", False, False, ""),
    "float32_native_norm": ("float32", False, False, "norm"),
    "bfloat16_native_norm": ("bfloat16", False, False, "norm"),
    "bfloat16_native": ("bfloat16", False, False, "all"),
    "float32_graph": ("float32", True, False, ""),
    "bfloat16_graph": ("bfloat16", True, False, ""),
    # opt-in probe of kernel fusion under the captured step (compiling takes minutes); the
    # library has no compile option: this mode swaps the net for its compiled self
    "bfloat16_compiled_graph": ("bfloat16", True, True, ""),
}
DEFAULT_MODES = (
    "float32", "bfloat16", "float32_native_norm", "bfloat16_native_norm", "bfloat16_native",
    "float32_graph", "bfloat16_graph",
)  # fmt: skip


def _data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(n, L, X_DIM)).astype(np.float32),
        rng.normal(size=(n, C_DIM)).astype(np.float32),
        rng.normal(size=(n, G_DIM)).astype(np.float32),
    )


def _best_rate(fn, work: float, repeats: int) -> float:
    """Work units per second of the fastest of `repeats` timed calls (after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - tic)
    return work / best


def gemm_peaks(device: str, repeats: int) -> dict[str, float]:
    """GFLOP/s of one GEMM of a dim-64 convolution's shape (256 sequences × 8 positions,
    5 taps × 64 channels in, 64 out) in float32 and bfloat16: the machine's rates beside
    which the training steps are read."""
    m, k, n, calls = 2048, 320, 64, 50
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(m, k, device=device).to(dtype)
        b = torch.randn(k, n, device=device).to(dtype)

        def run(a=a, b=b) -> None:
            for _ in range(calls):
                torch.mm(a, b)
            _synchronize(torch.device(device))

        rate = _best_rate(run, 2 * m * k * n * calls / 1e9, repeats)
        out[f"gemm_gflops_{str(dtype).removeprefix('torch.')}"] = round(rate, 1)
    return out


def bench(
    dim: int,
    mults: tuple[int, ...] | None,
    device: str,
    train_steps: int,
    batches: list[int],
    sample_batch: int,
    repeats: int,
    modes: list[str],
    profile_steps: int = 0,
) -> dict:
    x, c, g = _data(20_000)
    shape = {"dim_mults": mults} if mults else {}
    cfg = WorldModelConfig(
        x_dim=X_DIM,
        length=L,
        context_dim=C_DIM,
        guide_dim=G_DIM,
        dim=dim,
        inpaint_tokens=1,
        **shape,
    )
    model = DiffusionWorldModel(cfg, device=device)
    out: dict = {"dim": dim, "dim_mults": list(cfg.dim_mults)}
    out["params"] = sum(p.numel() for p in model.net.parameters())
    for b in batches:
        model.fit(x, c, g, steps=5, batch_size=b, progress=False, device=device)  # warm-up
        rates = {mode: _train_rate(model, (x, c, g), b, train_steps, mode) for mode in modes}
        for mode, rate in rates.items():
            suffix = "" if mode == EAGER else f"_{mode}"
            out[f"train_steps_per_s_batch{b}{suffix}"] = round(rate, 2)
            if mode != EAGER and EAGER in rates:
                out[f"train_{mode}_vs_eager_batch{b}"] = round(rate / rates[EAGER], 3)
        if EAGER in rates:
            floor = _best_rate(_bare_train_steps(model, b, train_steps // 2), train_steps // 2, 1)
            out[f"train_vs_floor_batch{b}"] = round(rates[EAGER] / floor, 3)
    mask = np.zeros((L, X_DIM), bool)
    mask[0] = True
    cs, gs = c[:sample_batch], g[:sample_batch]
    known = x[:sample_batch]
    for name, omega in (("cfg", 1.2), ("no_cfg", 1.0)):
        sampling = SamplingConfig(steps=3, guidance=omega)
        rate = _best_rate(
            lambda s=sampling: model.sample(cs, gs, sampling=s, inpaint=(mask, known)),
            sample_batch,
            repeats,
        )
        out[f"sample_sequences_per_s_{name}"] = round(rate, 1)
        out[f"sample_transitions_per_s_{name}"] = round(rate * H, 1)
    if profile_steps:
        out["step_profile"] = step_profile(model, batches[0], profile_steps)
    floor = _best_rate(_bare_forwards(model, 2 * sample_batch), sample_batch, repeats)
    out["sample_cfg_vs_floor"] = round(out["sample_sequences_per_s_cfg"] / floor, 3)
    return out


def _train_rate(model: DiffusionWorldModel, data: tuple, b: int, steps: int, mode: str) -> float:
    """Steps/s of fit in `mode`, marginal: (steps - steps/4) / (its time - steps/4's time), so
    the fixed cost of a call (a graph's warm-up and capture, the first log) cancels out."""
    precision, graph, compiled, native = MODES[mode]
    net = model.net
    if native:
        from dawm_kernels.torch_ops import BF16_CONV_PACKING, group_norm_mish

        model.set_norm_mish_kernel(group_norm_mish)
        model.set_conv_packing(BF16_CONV_PACKING if native == "all" else None)
    if compiled:  # same parameters; an untimed call compiles it, so no timed call pays for that
        model.net = torch.compile(net)
        model.fit(*data, steps=8, batch_size=b, progress=False, device=model.device,
                  eval_every=10**9, log_every=8, precision=precision, cuda_graph=graph)  # fmt: skip
    seconds = []
    try:
        for n in (steps // 4, steps):
            hist = model.fit(*data, steps=n, batch_size=b, progress=False, device=model.device,
                             eval_every=10**9, log_every=n, precision=precision,
                             cuda_graph=graph)  # fmt: skip
            seconds.append(hist.seconds)
    finally:
        model.net = net
        model.set_norm_mish_kernel(None)
        model.set_conv_packing(None)
    return (steps - steps // 4) / (seconds[1] - seconds[0])


def _bare_train_steps(model: DiffusionWorldModel, b: int, n: int):
    """The irreducible work of n training steps: fixed batch, no indexing, EMA or logging."""
    diffusion, dev = model.diffusion(), model.device
    gen = torch.Generator(dev).manual_seed(0)
    x0 = torch.randn(b, L, X_DIM, device=dev)
    c, g = torch.randn(b, C_DIM, device=dev), torch.randn(b, G_DIM, device=dev)
    opt = torch.optim.Adam(model.net.parameters(), lr=1e-4, fused=True)

    def run() -> None:
        for _ in range(n):
            loss = diffusion.loss(model.net, x0, c, g, generator=gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _synchronize(dev)

    return run


def step_profile(model: DiffusionWorldModel, b: int, n: int) -> dict:
    """What one bare float32 training step is made of: dispatched torch ops (nested calls
    included, so not a launch count) and, on CUDA, device kernels per step and their summed
    time, beside the step's unprofiled wall time. With a captured step's time beside it, this
    says whether launches (wall >> kernel time) or the kernels themselves bound the graph."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    run = _bare_train_steps(model, b, n)
    run()  # warm-up: allocator, cuBLAS/cuDNN handles
    tic = time.perf_counter()
    run()  # timed without the profiler, whose own overhead would inflate the wall time
    wall = (time.perf_counter() - tic) / n
    cuda = model.device.type == "cuda"
    activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA] if cuda else [ProfilerActivity.CPU]
    with profile(activities=activities) as prof:
        run()
    events = prof.key_averages()
    ops = sum(e.count for e in events if e.key.startswith("aten::"))
    out = {
        "steps": n,
        "aten_dispatches_per_step": round(ops / n, 1),
        "wall_ms_per_step": round(1e3 * wall, 3),
    }
    if cuda:  # the device's own records: kernels and copies, not the ops that launched them
        device = [
            e for e in events if e.device_type == DeviceType.CUDA and not e.is_user_annotation
        ]
        out["device_records_per_step"] = round(sum(e.count for e in device) / n, 1)
        out["device_ms_per_step"] = round(
            sum(e.self_device_time_total for e in device) / 1e3 / n, 3
        )
    return out


def _bare_forwards(model: DiffusionWorldModel, n: int):
    """3 forwards of the 2B CFG batch: the network work of one k = 3 guided sample."""
    dev = model.device
    x, t = torch.randn(n, L, X_DIM, device=dev), torch.zeros(n, dtype=torch.int64, device=dev)
    c, g = torch.randn(n, C_DIM, device=dev), torch.randn(n, G_DIM, device=dev)
    use = torch.ones(n, dtype=torch.bool, device=dev)

    @torch.inference_mode()
    def run() -> None:
        for _ in range(3):
            model.ema(x, t, c, g, use)
        _synchronize(dev)

    return run


def _synchronize(device: torch.device) -> None:
    """Timers stop when queued GPU work has run."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dims", type=int, nargs="+", default=[32, 64])
    parser.add_argument(
        "--dim-mults", type=int, nargs="+", default=None, help="default: WorldModelConfig's"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--train-steps", type=int, default=60)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--sample-batch", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=list(MODES),
        default=None,
        help="training modes timed side by side (default: float32 and bfloat16; on CUDA also "
        "their captured graphs; bfloat16_compiled_graph only when named)",
    )
    parser.add_argument(
        "--profile-steps",
        type=int,
        default=0,
        help="also profile this many bare float32 steps (ops, kernels, kernel time per step)",
    )
    args = parser.parse_args()
    cuda = args.device.startswith("cuda")
    modes = args.modes or [
        m for m in DEFAULT_MODES if (cuda or not MODES[m][1]) and not (cuda and MODES[m][3])
    ]
    if cuda and any(MODES[m][3] for m in modes):
        parser.error("native modes time dawm_kernels' CPU kernels: they need --device cpu")
    if not cuda and any(MODES[m][1] for m in modes):
        parser.error(f"graph modes capture CUDA graphs: they need --device cuda, not {args.device}")
    torch.set_num_threads(args.threads)
    result = {
        "diffusion_wm": __version__,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "threads": args.threads,
        "device": args.device,
        "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        "shape": {"L": L, "H": H, "x_dim": X_DIM, "context_dim": C_DIM, "guide_dim": G_DIM},
        "ddim_steps": 3,
        "peaks": gemm_peaks(args.device, args.repeats),
        "results": [
            bench(
                d,
                tuple(args.dim_mults) if args.dim_mults else None,
                args.device,
                args.train_steps,
                args.batches,
                args.sample_batch,
                args.repeats,
                modes,
                args.profile_steps,
            )
            for d in args.dims
        ],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
