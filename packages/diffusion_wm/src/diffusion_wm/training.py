"""The training loop of DiffusionWorldModel: lean, resumable, optionally data-parallel.

Data live normalized on the device for the whole run; a batch is one index draw. All ranks of
a DDP run draw the same global batch randomness from one seeded generator and each trains on
its slice, so a DDP run is the single-process run with the gradient averaged across ranks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import __version__
from ._atomic import atomic_write
from ._fields import COUNT, FLAG, POSITIVE, SEED, Valid
from .io import as_float_array, check_vector
from .normalizer import Normalizer

if TYPE_CHECKING:
    from .config import WorldModelConfig
    from .diffusion import GaussianDiffusion
    from .unet import TemporalUNet


# fit_model's arguments, checked before any work. steps is the total to reach: 0 (or a count a
# resumed checkpoint already reached) only fits the normalizer.
FIT_VALID: dict[str, Valid] = {
    "steps": Valid("int", lo=0),
    "batch_size": COUNT,
    "lr": POSITIVE,
    "val_fraction": Valid("float", lo=0, hi=1, hi_open=True, why="0: no validation loss"),
    "eval_every": COUNT,
    "log_every": COUNT,
    "checkpoint_every": COUNT,
    "resume": FLAG,
    "seed": SEED,
    "progress": FLAG,
    "precision": Valid("str", choices=("float32", "bfloat16")),
    "cuda_graph": FLAG,
}
WARMUP_STEPS = 3  # eager steps on a side stream before capture (torch.cuda.graphs' recipe)


class Trainable(Protocol):
    """What the training loop needs of a model (DiffusionWorldModel is one): declared here so
    this module does not import model.py, which imports it."""

    config: WorldModelConfig
    net: TemporalUNet
    ema: TemporalUNet
    normalizer: Normalizer | None
    history: FitHistory | None
    device: torch.device

    def to(self, device: torch.device | str) -> Trainable: ...

    def diffusion(self) -> GaussianDiffusion: ...


CHECKPOINT_FILE = "checkpoint.pt"
MAX_VAL_ROWS = 4096  # validation is a fixed batch: cheap enough to run often


@dataclass
class FitHistory:
    """Loss curve (mean training loss per `log_every` window) and validation loss (EMA net)."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps_done: int = 0

    @property
    def steps_per_second(self) -> float:
        return self.steps_done / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitHistory:
        return cls(**d)


def resolve_device(device: torch.device | str | None) -> torch.device:
    """None → CUDA when present, else CPU; a bare "cuda" → this rank's GPU under torchrun."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def _distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size); starts the default process group when launched by torchrun."""
    if not dist.is_available():
        return 0, 1
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return 0, 1
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


@torch.no_grad()
def update_ema(
    ema_params: list[torch.Tensor], params: list[torch.Tensor], decay: float, copy: bool
) -> None:
    """ema ← decay·ema + (1 − decay)·θ in one fused op; plain copy before EMA starts
    (Diffuser resets the EMA to the weights until `step_start_ema`)."""
    if copy:
        torch._foreach_copy_(ema_params, params)
    else:
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)


def _fingerprint(x: np.ndarray, c: np.ndarray | None, g: np.ndarray | None) -> list[float]:
    """Shapes and sums identifying the training data, so a resume on other data fails loudly."""
    parts: list[float] = list(x.shape)
    for a in (x, c, g):
        parts += [0.0, 0.0] if a is None else [float(a.sum(dtype=np.float64)), float(a.size)]
    return parts


def fit_model(
    model: Trainable,
    x: Any,
    context: Any = None,
    guide: Any = None,
    *,
    steps: int = 10_000,
    batch_size: int = 64,
    lr: float = 1e-4,
    val_fraction: float = 0.05,
    eval_every: int = 500,
    log_every: int = 100,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 1000,
    resume: bool = True,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    on_log: Callable[[str, int, float], None] | None = None,
    precision: str = "float32",
    cuda_graph: bool = False,
) -> FitHistory:
    """Train `model` for `steps` optimizer steps in total (a resumed run continues its count).

    Defaults: Adam lr 1e-4, batch 64 (DWM arXiv 2402.03570, Table 6). `device` None keeps the
    model's device (chosen at construction: CUDA when present). `batch_size` is the
    global batch: under torchrun each of the W ranks trains on batch_size / W rows.
    `on_log(name, step, value)` receives every point of the curves as it is computed ("loss",
    "val_loss"; rank 0 only), e.g. for TensorBoard.
    The normalizer is fitted on the first call and kept afterwards. Checkpoints (one file,
    written atomically every `checkpoint_every` steps and at the end) hold everything needed
    to continue bit-identically: weights, EMA, optimizer, generator state and history.

    Speed (issue #16): `precision="bfloat16"` runs the network under autocast on GPUs and
    its stride-1 convolutions as bfloat16 GEMMs on CPUs (the loss and the weights stay
    float32); `cuda_graph=True` (CUDA, one process) captures the whole step,
    batch draw to optimizer update, after a few eager warm-up steps and replays it, so
    Python and kernel launches leave the loop. Validation always runs in float32 eager.
    """
    given = {
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "val_fraction": val_fraction,
        "eval_every": eval_every,
        "log_every": log_every,
        "checkpoint_every": checkpoint_every,
        "resume": resume,
        "seed": seed,
        "progress": progress,
        "precision": precision,
        "cuda_graph": cuda_graph,
    }
    for name, valid in FIT_VALID.items():
        valid.check("fit", name, given[name])
    cfg = model.config
    xa = as_float_array("x", x, 3, cfg.x_dim)
    if xa.shape[1] != cfg.length:
        raise ValueError(f"x has sequence length {xa.shape[1]}, the config says {cfg.length}")
    ca = check_vector("context", context, cfg.context_dim)
    ga = check_vector("guide", guide, cfg.guide_dim)
    n = len(xa)
    if any(a is not None and len(a) != n for a in (ca, ga)):
        raise ValueError("x, context and guide must have the same number of rows")

    dev = model.device if device is None else resolve_device(device)
    rank, world = _distributed(dev)
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} must be divisible by the {world} DDP ranks")
    if cuda_graph and (dev.type != "cuda" or world > 1):
        raise ValueError(
            f"cuda_graph=True needs one process on a CUDA device, got {dev} with {world} "
            "rank(s); pass cuda_graph=False"
        )
    model.to(dev)

    fit_args = {"batch_size": batch_size, "lr": lr, "seed": seed, "val_fraction": val_fraction}
    if precision != "float32":  # arrived later: float32 checkpoints keep resuming
        fit_args["precision"] = precision
    fingerprint = _fingerprint(xa, ca, ga)
    ckpt_path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_FILE
    state = None
    if ckpt_path is not None and resume and ckpt_path.is_file():
        state = _read_checkpoint(ckpt_path, model, fit_args, fingerprint)
        model.normalizer = Normalizer.from_arrays(
            {k: v.numpy() for k, v in state["normalizer"].items()}
        )
    elif model.normalizer is None:
        model.normalizer = Normalizer.fit(
            xa,
            ca if ca is not None else np.zeros((n, 0)),
            ga if ga is not None else np.zeros((n, 0)),
        )
    norm = model.normalizer.torch(dev)

    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(dev)
    n_val = int(n * val_fraction)
    if n - n_val < 1:
        raise ValueError(f"no training rows left: {n} rows with val_fraction {val_fraction}")
    val_idx, train_idx = perm[:n_val][:MAX_VAL_ROWS], perm[n_val:]
    xt = norm.x(torch.from_numpy(xa).to(dev))
    ct = None if ca is None else norm.context(torch.from_numpy(ca).to(dev))
    gt = None if ga is None else norm.guide(torch.from_numpy(ga).to(dev))

    def rows(a: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
        return None if a is None else a[idx].contiguous()

    x_tr, c_tr, g_tr = rows(xt, train_idx), rows(ct, train_idx), rows(gt, train_idx)
    x_va, c_va, g_va = rows(xt, val_idx), rows(ct, val_idx), rows(gt, val_idx)
    del xt, ct, gt
    n_train = len(train_idx)

    diffusion = model.diffusion()
    val_draw = diffusion.draw(x_va.shape, torch.Generator(dev).manual_seed(seed + 1), dev)
    # fused: one kernel for all parameters (CPU since torch 2.4), ~10% faster steps at dim 32
    optimizer = torch.optim.Adam(model.net.parameters(), lr=lr, fused=True, capturable=cuda_graph)
    gen = torch.Generator(dev).manual_seed(seed)
    history = FitHistory()
    params = list(model.net.parameters())
    ema_params = list(model.ema.parameters())
    start = 0
    if state is not None:
        model.net.load_state_dict(state["net"])
        model.ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        for group in optimizer.param_groups:  # the checkpoint's groups carry its own setting
            group["capturable"] = cuda_graph
        gen.set_state(state["generator"])
        history = FitHistory.from_dict(json.loads(state["history"]))
        start = int(state["step"])
    net: torch.nn.Module = model.net
    if world > 1:
        net = DistributedDataParallel(
            model.net, device_ids=[dev.index] if dev.type == "cuda" else None
        )
    if state is None:
        update_ema(ema_params, params, cfg.ema_decay, copy=True)  # after DDP's broadcast

    per_rank = batch_size // world
    mine = slice(rank * per_rank, (rank + 1) * per_rank)
    shape = (batch_size, cfg.length, cfg.x_dim)
    running = torch.zeros((), device=dev)
    window = 0
    model.net.train()
    bar = tqdm(
        total=steps,
        initial=min(start, steps),
        disable=not progress or rank != 0,
        desc="diffusion_wm fit",
        dynamic_ncols=True,
    )
    mixed = _mixed_precision(model.net, dev, precision)

    def train_step() -> None:
        """One optimizer step; gradients are overwritten, not accumulated (graph-safe)."""
        idx = torch.randint(n_train, (batch_size,), generator=gen, device=dev)[mine]
        t, noise, use_guide = diffusion.draw(shape, gen, dev)
        with mixed():
            loss = diffusion.loss(
                net,
                x_tr[idx],
                rows(c_tr, idx),
                rows(g_tr, idx),
                t=t[mine],
                noise=noise[mine],
                use_guide=use_guide[mine],
            )
        loss.backward()
        optimizer.step()
        running.add_(loss.detach().float())

    graph = _StepGraph(train_step, gen, dev) if cuda_graph else None
    tic, counted = time.perf_counter(), start
    for step in range(start, steps):
        if graph is not None:
            graph.run(optimizer)
        else:
            optimizer.zero_grad(set_to_none=True)
            train_step()
        window += 1
        done = step + 1
        if done % cfg.ema_every == 0:
            update_ema(ema_params, params, cfg.ema_decay, copy=done <= cfg.ema_start)
        bar.update(1)
        if done % log_every == 0 or done == steps:
            mean = running / window
            if world > 1:
                dist.all_reduce(mean)
                mean /= world
            history.step.append(done)
            history.loss.append(float(mean))
            if on_log is not None and rank == 0:
                on_log("loss", done, history.loss[-1])
            running.zero_()
            window = 0
            bar.set_postfix(loss=f"{history.loss[-1]:.4f}")
        if n_val and (done % eval_every == 0 or done == steps):
            with torch.no_grad():
                val = diffusion.loss(
                    model.ema,
                    x_va,
                    c_va,
                    g_va,
                    t=val_draw[0],
                    noise=val_draw[1],
                    use_guide=val_draw[2],
                )
            history.val_step.append(done)
            history.val_loss.append(float(val))
            if on_log is not None and rank == 0:
                on_log("val_loss", done, history.val_loss[-1])
        if ckpt_path is not None and (done % checkpoint_every == 0 or done == steps):
            history.seconds += time.perf_counter() - tic
            history.steps_done += done - counted
            tic, counted = time.perf_counter(), done
            if rank == 0:
                _write_checkpoint(
                    ckpt_path, model, optimizer, gen, history, done, fit_args, fingerprint
                )
            if world > 1:
                dist.barrier()
    bar.close()
    history.seconds += time.perf_counter() - tic
    history.steps_done += max(steps - counted, 0)
    model.net.eval()
    model.history = history
    return history


def _mixed_precision(
    net: TemporalUNet, dev: torch.device, precision: str
) -> Callable[[], contextlib.AbstractContextManager]:
    """What `precision` means for one training step. bfloat16: autocast on GPUs; on CPUs the
    U-Net's stride-1 convolutions as bfloat16 GEMMs and everything else float32, because
    oneDNN's bfloat16 convolutions (what autocast runs) are no faster there than float32
    ones (docs/performance.md)."""
    if precision != "bfloat16":
        return contextlib.nullcontext
    if dev.type != "cpu":
        return lambda: torch.autocast(dev.type, dtype=torch.bfloat16, cache_enabled=False)

    @contextlib.contextmanager
    def gemm_convolutions() -> Iterator[None]:
        net.set_conv_gemm_dtype(torch.bfloat16)
        try:
            yield
        finally:
            net.set_conv_gemm_dtype(None)  # sampling and validation stay float32

    return gemm_convolutions


class _StepGraph:
    """The training step as a CUDA graph: WARMUP_STEPS eager steps on a side stream, then one
    capture, then a replay per step. The batch generator is registered with the graph, so
    each replay draws fresh indices and noise from it and its state advances as in eager.
    Everything runs with the model's device current (streams and capture are per device)."""

    def __init__(
        self, fn: Callable[[], None], generator: torch.Generator, device: torch.device
    ) -> None:
        self.fn, self.generator, self.device = fn, generator, device
        self.warm = 0
        self.graph: torch.cuda.CUDAGraph | None = None

    def run(self, optimizer: torch.optim.Optimizer) -> None:
        with torch.cuda.device(self.device):
            if self.graph is not None:
                self.graph.replay()
            elif self.warm < WARMUP_STEPS:
                self._warm_up(optimizer)
            else:
                self._capture(optimizer)

    def _warm_up(self, optimizer: torch.optim.Optimizer) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), warnings.catch_warnings():
            # Adam(capturable=True) warns when it steps outside a capture: here it must.
            warnings.filterwarnings("ignore", message=".*capturable=True.*")
            optimizer.zero_grad(set_to_none=True)
            self.fn()
        torch.cuda.current_stream().wait_stream(side)
        self.warm += 1

    def _capture(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.zero_grad(set_to_none=True)  # backward then allocates from the graph's pool
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(self.generator)
        with torch.cuda.graph(graph):
            self.fn()
        self.graph = graph
        graph.replay()  # capture records the step without running it


def _write_checkpoint(
    path: Path,
    model: Trainable,
    optimizer: torch.optim.Optimizer,
    gen: torch.Generator,
    history: FitHistory,
    step: int,
    fit_args: dict[str, Any],
    fingerprint: list[float],
) -> None:
    assert model.normalizer is not None
    state = {
        "version": __version__,
        "config": json.dumps(model.config.to_dict()),
        "fit_args": json.dumps(fit_args),
        "fingerprint": torch.tensor(fingerprint, dtype=torch.float64),
        "step": step,
        "net": model.net.state_dict(),
        "ema": model.ema.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": gen.get_state(),
        "history": json.dumps(history.to_dict()),
        "normalizer": {k: torch.from_numpy(v) for k, v in model.normalizer.arrays().items()},
    }
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def _read_checkpoint(
    path: Path, model: Trainable, fit_args: dict[str, Any], fingerprint: list[float]
) -> dict[str, Any]:
    """Load with weights_only=True (never unpickles code) and check it belongs to this run."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved_config = json.loads(state["config"])
        saved_args = json.loads(state["fit_args"])
        saved_print = state["fingerprint"].tolist()
    except Exception as e:  # torch raises several types for a truncated or foreign file
        raise ValueError(
            f"checkpoint {path} is corrupt or not a diffusion_wm checkpoint ({type(e).__name__}); "
            "delete it or pass resume=False"
        ) from e
    if saved_config != model.config.to_dict():
        raise ValueError(f"checkpoint {path} was made with another model config; pass resume=False")
    if saved_args != fit_args:
        raise ValueError(
            f"checkpoint {path} was made with fit arguments {saved_args}, now {fit_args}: "
            "use the same ones or pass resume=False"
        )
    if not np.allclose(saved_print, fingerprint, rtol=1e-9, atol=0.0):
        raise ValueError(f"checkpoint {path} was trained on other data; pass resume=False")
    return state
