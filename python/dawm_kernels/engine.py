"""The engine object: built once from exported weights, then `generate` in short native calls."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from .checks import as_array, float_array, positive_int, seed_value

Export = tuple[Mapping[str, np.ndarray], Mapping[str, Any]]

# Work of one native call, in estimated multiply-adds (Engine.chunk_rows). A native call holds
# the interpreter, so Ctrl-C lands only between calls: these bounds keep a call short. CPU, per
# thread: the quick preset's model (dim 32, mults (1, 2), L 8, 3 steps with guidance) ran at
# 7.5e10 estimated MAC/s on one thread of a shared 2-core AVX-512 Xeon: 768-row calls of
# 0.16 s (about 3x that with the portable kernels). CUDA: ~1e13 estimated MAC/s on an H100
# (docs/performance.md), so ~0.1 s a call.
CPU_CALL_WORK = 1e10
CUDA_CALL_WORK = 1e12
PRECISIONS = ("float32", "tf32")


def check_precision(precision: str, device: str) -> None:
    """`precision` names the GEMMs' arithmetic: float32 everywhere, or TF32 on the CUDA engine's
    tensor cores (compute capability >= 8.0, checked when the engine starts)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "tf32" and not (device == "cuda" or device.startswith("cuda:")):
        raise ValueError(
            "precision='tf32' runs on the CUDA engine's tensor cores; the CPU engine computes "
            "in float32: pass device='cuda' or precision='float32'"
        )


@dataclass(frozen=True)
class Layout:
    """Where the state and the reward sit in each token of x (docs/engine_contract.md, DAWM
    layout): token j = [s_{t+j} at columns state_col.., r_{t+j-1} at reward_col]; token 0 is
    the real [s_t, 0] inpainted at every step when `inpaint_first`. reward_col None = obs_dim.
    With `action_col`, tokens also carry an action at columns action_col.. and token 0's are
    the real a_t, inpainted with s_t (the pipeline's action tokens)."""

    state_col: int = 0
    reward_col: int | None = None
    action_col: int | None = None
    inpaint_first: bool = True


@dataclass(frozen=True)
class Generated:
    """Raw (denormalized) outputs, plus the final x in normalized space (for parity checks)."""

    states: np.ndarray  # (B, H, obs_dim): ŝ_{t+1..t+H}, H = L - 1
    rewards: np.ndarray  # (B, H): r̂_{t..t+H-1}
    actions: np.ndarray  # (B, H, act_dim): a_t, then the IDM's mean actions
    x: np.ndarray  # (B, L, x_dim), normalized


def cuda_status() -> tuple[bool, str]:
    """(usable, reason): whether the CUDA engine is compiled in and a device is present."""
    if not _core.cuda_compiled:
        return False, "dawm_kernels was built without nvcc: no CUDA engine"
    count, why = _core.cuda_device_count()
    if count < 1:
        return False, f"no CUDA device: {why}"
    return True, f"{count} CUDA device(s)"


def default_threads() -> int:
    """torch's thread count if torch is loaded, else OMP_NUM_THREADS, else the usable cores."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return max(1, int(torch.get_num_threads()))
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def available_memory() -> int | None:
    """Bytes the OS can hand out now: MemAvailable (Linux), else the free pages (sysconf),
    else None (unknown: the memory check is skipped)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _size(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _ddim_table(schedule: Any, weights: Mapping[str, np.ndarray], steps: int | None) -> dict:
    """The DDIM (t, ᾱ_t, ᾱ_prev) table: from a mapping, an object with `ddim_table()`
    (DDIMSampler, or NoiseSchedule given `steps`), or the export's own `ddim.*` arrays."""
    if schedule is None:
        missing = [k for k in ("ddim.t", "ddim.alpha", "ddim.alpha_prev") if k not in weights]
        if missing:
            raise ValueError(f"no schedule given and the export lacks {missing}: pass schedule=")
        table = {k: weights[f"ddim.{k}"] for k in ("t", "alpha", "alpha_prev")}
    elif isinstance(schedule, Mapping):
        table = dict(schedule)
    elif hasattr(schedule, "ddim_table"):
        fn = schedule.ddim_table
        if inspect.signature(fn).parameters:
            if steps is None:
                raise ValueError("schedule.ddim_table needs the number of steps: pass steps=")
            table = fn(steps)
        else:
            table = fn()
    else:
        raise ValueError(
            "schedule must be a DDIM table mapping (t, alpha, alpha_prev), an object with "
            f"ddim_table(), or None; got {type(schedule).__name__}"
        )
    try:
        t = np.asarray(table["t"], dtype=np.float64)
        alpha = np.asarray(table["alpha"], dtype=np.float32)
        alpha_prev = np.asarray(table["alpha_prev"], dtype=np.float32)
    except KeyError as err:
        raise ValueError(f"the DDIM table lacks {err}: need t, alpha, alpha_prev") from err
    if not (
        t.ndim == alpha.ndim == alpha_prev.ndim == 1 and len(t) == len(alpha) == len(alpha_prev)
    ):
        raise ValueError("the DDIM table's t, alpha and alpha_prev must be 1-D of equal length")
    if np.any(t != np.round(t)) or np.any(t < 0):
        raise ValueError("the DDIM table's t must hold non-negative integers")
    if steps is not None and steps != len(t):
        raise ValueError(
            f"steps={steps} but the DDIM table has {len(t)} steps; export the model with "
            f"export(SamplingConfig(steps={steps})) or pass a matching schedule"
        )
    return {
        "t": t.astype(np.int64).tolist(),
        "alpha": alpha.tolist(),
        "alpha_prev": alpha_prev.tolist(),
    }


def _weights(export: Any, what: str) -> tuple[dict[str, np.ndarray], Mapping[str, Any]]:
    if not (isinstance(export, tuple | list) and len(export) == 2):
        raise ValueError(f"{what} export must be the (weights, config) pair that export() returns")
    weights, config = export
    if not isinstance(weights, Mapping) or not isinstance(config, Mapping):
        raise ValueError(f"{what} export must be (dict of arrays, dict config)")
    out = {}
    for name, value in weights.items():
        arr = np.asarray(value)
        if arr.dtype != np.float32:
            raise ValueError(f"{what} weight {name!r} must be float32, got {arr.dtype}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{what} weight {name!r} contains NaN or inf")
        out[str(name)] = np.ascontiguousarray(arr)
    return out, config


def _cfg(config: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in config:
        raise ValueError(f"{what} config lacks {key!r}: is it an export() config?")
    return config[key]


def _check_pair(unet_c: Mapping[str, Any], obs_dim: int, act_dim: int, layout: Layout) -> None:
    """Refuse a U-Net and an IDM exported for different data: the builder would accept some
    such pairs (a narrower IDM reads the first columns of a wider x) and generate garbage."""
    x_dim = int(_cfg(unet_c, "x_dim", "U-Net"))
    context_dim = int(_cfg(unet_c, "context_dim", "U-Net"))
    action_tokens = layout.action_col is not None
    need = obs_dim + (act_dim if action_tokens else 0) + 1
    if x_dim != need:
        parts = f"IDM obs_dim {obs_dim}" + (f" + act_dim {act_dim}" if action_tokens else "")
        raise ValueError(
            f"U-Net x_dim {x_dim} != {parts} + 1 reward column = {need}: export both models "
            "from the same dataset, and pass the Layout the world model was trained with "
            "(tokens with actions: Layout(action_col=..., reward_col=...))"
        )
    if context_dim and context_dim != obs_dim + act_dim:
        raise ValueError(
            f"U-Net context_dim {context_dim} != IDM obs_dim {obs_dim} + act_dim {act_dim} = "
            f"{obs_dim + act_dim} (the context is [s_t, a_t]): export both models from the "
            "same dataset"
        )
    known = int(unet_c.get("inpaint_tokens", 0))
    if known > 1:
        raise ValueError(
            f"the world model was trained with inpaint_tokens={known} known leading tokens, "
            "the engine inpaints 1 (token 0 = s_t): retrain it with inpaint_tokens=1 (the DAWM "
            "layout) or sample with diffusion_wm"
        )


class Engine:
    """Fused generator: DDIM with classifier-free guidance over the TemporalUNet, token-0
    inpainting, denormalization and the IDM's mean actions, in native code.

    Build with `from_exports`. A batch runs as consecutive native calls of at most
    `chunk_rows()` rows, so Ctrl-C stops it within a call (well under a second); the results
    do not depend on the split. A batch whose outputs cannot fit in memory is refused.
    `device` "cpu" runs the OpenMP engine (`threads` workers over tiles of `tile` samples,
    AVX-512/AVX2/portable kernels chosen at run time or by `isa`); "cuda" / "cuda:N" the CUDA
    engine (in chunks of `gpu_chunk` samples), whose GEMMs run in float32 or, with
    `precision="tf32"`, on the tensor cores (docs/engine_contract.md states each one's parity
    bound). Initial noise comes from `noise=` or from a
    counter-based generator keyed by (seed, sample index in the batch): SplitMix64 +
    Box-Muller, the same stream on CPU and GPU, independent of threads, tiles and chunks (it
    is not torch's generator; `initial_noise(batch, seed)` returns it).
    """

    def __init__(
        self,
        model: Any,
        info: dict[str, Any],
        device: str,
        threads: int | None,
        tile: int,
        isa: str,
        gpu_chunk: int = 8192,
        chunk: int | None = None,
        precision: str = "float32",
    ) -> None:
        check_precision(precision, device)
        self.precision = precision
        self._model = model
        self.obs_dim: int = info["obs_dim"]
        self.act_dim: int = info["act_dim"]
        self.guide_dim: int = info["guide_dim"]
        self.x_dim: int = info["x_dim"]
        self.length: int = model.length  # L tokens: token 0 is s_t, then H = L - 1 generated
        self._generated: int = model.generated  # H, derived once in C++ (build_model)
        self.steps: int = len(info["t"])
        self.guidance: float = info["guidance"]
        self.threads = positive_int(threads, "threads") if threads is not None else None
        self.tile = positive_int(tile, "tile")
        self.chunk = positive_int(chunk, "chunk") if chunk is not None else None
        self._gpu_chunk = positive_int(gpu_chunk, "gpu_chunk")
        # Every weight as one multiply-add per token (an over-count at the down-sampled
        # levels, so calls err on the short side): U-Net per step and pass, IDM per window.
        passes, padded = model.passes, model.padded_length
        self._row_work = float(
            self.steps * passes * padded * info["unet_weights"]
            + max(self._generated - 1, 0) * info["idm_weights"]
        )
        # Host bytes of one CPU worker's Scratch (csrc/cpu/ddim.cpp), bounded above: a dozen
        # (sequence row, widest channel) buffers for the U-Net, two for the IDM, x and its inputs.
        widest = info["dim"] * max(info["dim_mults"])
        idm_width = max([*info["hidden_sizes"], (info["history"] + 2) * self.obs_dim])
        per_row = (
            12 * passes * (padded + 4) * max(widest, self.x_dim)
            + 2 * max(self._generated - 1, 1) * max(idm_width, 2 * self.act_dim)
            + self.length * self.x_dim
            + 8 * info["dim"]
        )
        self._scratch_bytes = 4 * self.tile * per_row
        self.device = device
        if device == "cpu":
            self._cpu = _core.CpuEngine(model, isa)
            self.isa: str = self._cpu.isa
            self._cuda = None
        elif device == "cuda" or device.startswith("cuda:"):
            ok, why = cuda_status()
            if not ok:
                raise RuntimeError(f"device={device!r} is not available: {why}")
            index = int(device.split(":")[1]) if ":" in device else 0
            self._cuda = _core.CudaEngine(model, index, self._gpu_chunk, precision == "tf32")
            self._cpu = None
            self.isa = "cuda"
        else:
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")

    @classmethod
    def from_exports(
        cls,
        unet_export: Export,
        idm_export: Export,
        schedule: Any = None,
        steps: int | None = None,
        guidance: float | None = None,
        device: str = "cpu",
        *,
        clip: float | None = None,
        layout: Layout | None = None,
        threads: int | None = None,
        tile: int = 16,
        isa: str = "auto",
        gpu_chunk: int = 8192,
        chunk: int | None = None,
        precision: str = "float32",
    ) -> Engine:
        """Engine from `DiffusionWorldModel.export()` and `InverseDynamicsModel.export()`.

        `schedule`: the DDIM table (mapping or an object with `ddim_table()`), default the
        export's own (`steps`, if given, must match its length); `guidance` (ω) and `clip`
        default to the export's config. The sequence length L is the export's `length`:
        outputs hold the H = L − 1 generated steps. `layout` defaults to the contract's DAWM
        layout (token 0 = [s_t, 0] inpainted at every step). `chunk`: rows per native call
        (default: from the work bound, see `chunk_rows`). Exports whose dimensions disagree
        (U-Net x_dim and context_dim vs the IDM's obs_dim and act_dim) are refused.
        `precision`: "float32" or, on CUDA only, "tf32" (tensor-core GEMMs).
        """
        check_precision(precision, device)
        unet_w, unet_c = _weights(unet_export, "U-Net")
        idm_w, idm_c = _weights(idm_export, "IDM")
        what = "U-Net"
        prediction = _cfg(unet_c, "prediction", what)
        if prediction not in ("epsilon", "x0"):
            raise ValueError(f"U-Net prediction must be 'epsilon' or 'x0', got {prediction!r}")
        if float(unet_c.get("eta", 0.0)) != 0.0:
            raise ValueError(
                f"the engine runs deterministic DDIM (eta 0), the export has eta={unet_c['eta']}; "
                "export with SamplingConfig(eta=0) or use diffusion_wm's sampler"
            )
        obs_dim = int(_cfg(idm_c, "obs_dim", "IDM"))
        act_dim = int(_cfg(idm_c, "act_dim", "IDM"))
        length = int(_cfg(unet_c, "length", what))
        if length < 2:
            raise ValueError(f"U-Net length must be >= 2 (token 0 is s_t), got {length}")
        guidance = float(unet_c.get("guidance", 1.0) if guidance is None else guidance)
        clip = float(unet_c.get("clip", 1.0) if clip is None else clip)
        if not np.isfinite(guidance) or not np.isfinite(clip) or clip <= 0:
            raise ValueError(f"guidance must be finite and clip > 0, got {guidance}, {clip}")
        layout = Layout() if layout is None else layout
        _check_pair(unet_c, obs_dim, act_dim, layout)
        reward_col = obs_dim if layout.reward_col is None else layout.reward_col
        info = {
            "x_dim": int(_cfg(unet_c, "x_dim", what)),
            "context_dim": int(_cfg(unet_c, "context_dim", what)),
            "guide_dim": int(_cfg(unet_c, "guide_dim", what)),
            "dim": int(_cfg(unet_c, "dim", what)),
            "dim_mults": [int(m) for m in _cfg(unet_c, "dim_mults", what)],
            "epsilon": prediction == "epsilon",
            "guidance": guidance,
            "clip": clip,
            "obs_dim": obs_dim,
            "act_dim": act_dim,
            "history": int(_cfg(idm_c, "history", "IDM")),
            "hidden_sizes": [int(h) for h in _cfg(idm_c, "hidden_sizes", "IDM")],
            "activation": str(idm_c.get("activation", "relu")),
            "length": length,
            "state_col": int(layout.state_col),
            "reward_col": int(reward_col),
            "action_col": -1 if layout.action_col is None else int(layout.action_col),
            "inpaint_first": bool(layout.inpaint_first),
            **_ddim_table(schedule, unet_w, steps),
            "unet_weights": sum(w.size for w in unet_w.values()),
            "idm_weights": sum(w.size for w in idm_w.values()),
        }
        model = _core.build(unet_w, idm_w, info)
        return cls(model, info, device, threads, tile, isa, gpu_chunk, chunk, precision)

    def chunk_rows(self, threads: int | None = None) -> int:
        """Rows per native call: `chunk` if given, else what the work bound allows.

        A native call cannot be interrupted, and its time follows its work, not its rows or
        bytes: a row of the paper's U-Net (dim 128) takes ~100x a quick-preset row (dim 32).
        So the rows come from CPU_CALL_WORK per thread (a multiple of `tile`, one tile per
        thread at least; `threads` defaults to the engine's) or CUDA_CALL_WORK (a multiple of
        `gpu_chunk`) over the estimated work of one row.
        """
        if self.chunk is not None:
            return self.chunk
        threads = self._threads() if threads is None else threads
        if self._cuda is not None:
            per_call = int(CUDA_CALL_WORK // (self._row_work * self._gpu_chunk))
            return self._gpu_chunk * max(1, per_call)
        per_call = int(CPU_CALL_WORK * threads // (self._row_work * self.tile))
        return self.tile * max(threads, per_call)

    def _threads(self) -> int:
        return self.threads if self.threads is not None else default_threads()

    def _check_memory(self, batch: int, row_bytes: int, work: int) -> None:
        """Refuse, before allocating, a batch whose outputs (`row_bytes` a row) and workspace
        (`work` bytes) exceed the available memory: NumPy's lazily mapped pages would let it
        start, and the OOM killer would end it later."""
        need = batch * row_bytes + work
        free = available_memory()
        if free is not None and need > free:
            fits = max(0, (free - work) // row_bytes)
            raise ValueError(
                f"batch of {batch} rows needs about {_size(need)} (outputs + workspace) but "
                f"{_size(free)} is available: pass a smaller batch or call in parts of at most "
                f"{fits} rows"
            )

    def initial_noise(self, batch: int, seed: int = 0) -> np.ndarray:
        """The x_K that `sample(..., seed=seed)` starts from: (batch, L, x_dim) float32."""
        if isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 0:
            raise ValueError(f"batch must be a non-negative int, got {batch!r}")
        self._check_memory(int(batch), 4 * self.length * self.x_dim, 0)
        flat = _core.initial_noise(int(batch), self.length * self.x_dim, seed_value(seed))
        return flat.reshape(int(batch), self.length, self.x_dim)

    def sample(
        self,
        states: Any,
        actions: Any,
        rtg: Any = None,
        seed: int = 0,
        *,
        noise: Any = None,
    ) -> Generated:
        """Generate from s_t (B, obs_dim), a_t (B, act_dim) and the guide (B, guide_dim)."""
        return Generated(*self._run(states, actions, rtg, seed, noise, with_x=True))

    def generate(
        self, states: Any, actions: Any, rtg: Any = None, seed: int = 0, *, noise: Any = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(states (B, H, obs_dim), rewards (B, H), actions (B, H, act_dim)), raw units; the
        final x is not kept (it would be the largest output)."""
        states, rewards, actions = self._run(states, actions, rtg, seed, noise, with_x=False)
        return states, rewards, actions

    def _run(
        self, states: Any, actions: Any, rtg: Any, seed: Any, noise: Any, with_x: bool
    ) -> tuple[np.ndarray, ...]:
        """Checks the inputs and memory, then fills the outputs in native calls of
        `chunk_rows()` rows; each call is given its first row's index in the batch, which
        keys the seeded noise, so the split does not change the results."""
        obs, act, g = self.obs_dim, self.act_dim, self.guide_dim
        states = float_array(states, "states", (None, obs))
        batch = states.shape[0]
        actions = float_array(actions, "actions", (batch, act))
        if g:
            if rtg is None:
                raise ValueError(f"the model is guided: pass rtg of shape (B, {g})")
            rtg_arr = as_guide(rtg, batch, g)
        else:
            if rtg is not None and np.asarray(rtg).size:
                raise ValueError("the model has no guide (guide_dim 0): pass rtg=None")
            rtg_arr = None
        length, h = self.length, self._generated
        if noise is not None:
            noise = float_array(noise, "noise", (batch, length, self.x_dim))
        seed = seed_value(seed)
        threads = self._threads()
        row_floats = h * (obs + 1 + act) + (length * self.x_dim if with_x else 0)
        work = self._scratch_bytes * threads if self._cpu is not None else 0
        self._check_memory(batch, 4 * row_floats, work)
        out_states = np.empty((batch, h, obs), np.float32)
        rewards = np.empty((batch, h), np.float32)
        out_actions = np.empty((batch, h, act), np.float32)
        x = np.empty((batch, length, self.x_dim), np.float32) if with_x else None
        rows = self.chunk_rows(threads)
        for start in range(0, batch, rows):
            part = slice(start, min(start + rows, batch))
            args = (
                part.stop - start,
                states[part],
                actions[part],
                None if rtg_arr is None else rtg_arr[part],
                None if noise is None else noise[part],
                seed,
                start,
                out_states[part],
                rewards[part],
                out_actions[part],
                None if x is None else x[part],
            )
            if self._cpu is not None:
                self._cpu.run(*args, threads, self.tile)
            else:
                self._cuda.run(*args)
        return (out_states, rewards, out_actions) + (() if x is None else (x,))


def as_guide(rtg: Any, batch: int, g: int) -> np.ndarray:
    """The guide as (B, g); a (B,) vector is accepted when g == 1."""
    arr = as_array(rtg, "rtg")
    if arr.ndim == 1 and g == 1:
        return float_array(arr, "rtg", (batch,)).reshape(batch, 1)
    return float_array(arr, "rtg", (batch, g))
