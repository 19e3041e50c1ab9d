"""DiffusionWorldModel: normalizer + TemporalUNet (+ EMA copy) + schedule, in raw units.

This is the object other code uses: `fit` on arrays, `sample` given context and guide,
`save`/`load` (safetensors + JSON, never pickle), and `export` for the native engine.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import __version__
from ._atomic import atomic_write
from .config import SamplingConfig, WorldModelConfig
from .diffusion import GaussianDiffusion
from .gemm_conv import Bf16Packing
from .io import as_float_array, atomic_write_json, check_vector
from .normalizer import Normalizer
from .sampler import DDIMSampler
from .schedule import NoiseSchedule
from .training import FitHistory, fit_model, resolve_device
from .unet import NormMishKernel, TemporalUNet

FORMAT = "diffusion_wm/1"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


class DiffusionWorldModel:
    """Learns p(x_{1..L} | c, g) for sequences of vectors; c always given, g guided (CFG)."""

    def __init__(self, config: WorldModelConfig, device: torch.device | str | None = None) -> None:
        """`device` None: CUDA when present (this rank's GPU under torchrun), else CPU."""
        self.config = config
        self.device = resolve_device(device)
        self.net = TemporalUNet(config.unet_config()).to(self.device)
        self.ema = copy.deepcopy(self.net).requires_grad_(False).eval()
        self.schedule = NoiseSchedule(config.diffusion_steps)
        self.normalizer: Normalizer | None = None
        self.history: FitHistory | None = None

    def set_norm_mish_kernel(self, kernel: NormMishKernel | None) -> None:
        """Compute the trained and the sampled network's Mish(GroupNorm(·)) pairs with
        `kernel` (None: PyTorch's ops); see TemporalUNet.set_norm_mish_kernel."""
        self.net.set_norm_mish_kernel(kernel)
        self.ema.set_norm_mish_kernel(kernel)

    def set_conv_packing(self, packing: Bf16Packing | tuple[Callable, Callable] | None) -> None:
        """Do the trained network's bfloat16 convolution copies with `packing`; see
        TemporalUNet.set_conv_packing (only training uses bfloat16 GEMM convolutions)."""
        self.net.set_conv_packing(packing)

    def to(self, device: torch.device | str) -> DiffusionWorldModel:
        self.device = resolve_device(device)
        self.net.to(self.device)
        self.ema.to(self.device)
        return self

    def diffusion(self) -> GaussianDiffusion:
        """The training objective for this config, its tensors on the model's device."""
        cfg = self.config
        weights = mask = None
        if cfg.loss_weights is not None:
            weights = torch.tensor(cfg.loss_weights, dtype=torch.float32, device=self.device)
        if cfg.inpaint_tokens:
            mask = torch.zeros(cfg.length, cfg.x_dim, dtype=torch.bool, device=self.device)
            mask[: cfg.inpaint_tokens] = True
        return GaussianDiffusion(self.schedule, cfg.p_uncond, weights, mask, cfg.prediction)

    def sampler(self, sampling: SamplingConfig | None = None) -> DDIMSampler:
        """The DDIM sampler for `sampling` (None: SamplingConfig()) over this model's schedule.

        Its guidance weight is passed to `DDIMSampler.sample(guidance=)`, not held here.
        """
        sampling = SamplingConfig() if sampling is None else sampling
        sampling.check(self.config.diffusion_steps)
        return DDIMSampler(self.schedule, sampling.steps, sampling.eta, sampling.clip)

    def fit(
        self,
        x: Any,
        context: Any = None,
        guide: Any = None,
        **kwargs: Any,
    ) -> FitHistory:
        """Train on x (N, L, x_dim), context (N, c_dim), guide (N, g_dim); see `fit_model`."""
        return fit_model(self, x, context, guide, **kwargs)

    # ----------------------------------------------------------------------------- sampling
    def _require_fitted(self) -> Normalizer:
        if self.normalizer is None:
            raise ValueError("the model is not fitted: call fit() or DiffusionWorldModel.load()")
        return self.normalizer

    @torch.inference_mode()
    def sample(
        self,
        context: Any = None,
        guide: Any = None,
        *,
        sampling: SamplingConfig | None = None,
        generator: torch.Generator | None = None,
        inpaint: tuple[Any, Any] | None = None,
        noise: Any = None,
        batch: int | None = None,
        chunk_size: int = 8192,
    ) -> np.ndarray:
        """Raw-unit samples (B, L, x_dim) float32 from the EMA network with DDIM + CFG.

        `sampling` sets the DDIM steps, guidance ω, x0 clip and eta (None: SamplingConfig()).
        context (B, c_dim) and guide (B, g_dim) are raw; `inpaint=(mask (L, x_dim) bool,
        values (B, L, x_dim) raw)` fixes the masked entries; `noise` is x_K in normalized space.
        Work is done `chunk_size` rows at a time; noise drawn from `generator` chunk by chunk.
        """
        cfg = self.config
        norm = self._require_fitted().torch(self.device)
        sampling = SamplingConfig() if sampling is None else sampling
        sampler = self.sampler(sampling)
        c = check_vector("context", context, cfg.context_dim)
        g = check_vector("guide", guide, cfg.guide_dim)
        x_k = None if noise is None else as_float_array("noise", noise, 3, cfg.x_dim)
        mask = values = None
        if inpaint is not None:
            mask = torch.as_tensor(np.asarray(inpaint[0], dtype=bool), device=self.device)
            if tuple(mask.shape) != (cfg.length, cfg.x_dim):
                raise ValueError(
                    f"inpaint mask must have shape ({cfg.length}, {cfg.x_dim}), "
                    f"got {tuple(mask.shape)}"
                )
            values = np.where(mask.cpu().numpy(), np.asarray(inpaint[1], np.float32), 0.0)
            values = as_float_array("inpaint values", values, 3, cfg.x_dim)
        elif cfg.inpaint_tokens:
            raise ValueError(
                f"the model was trained with inpaint_tokens={cfg.inpaint_tokens}: pass "
                "inpaint=(mask, values) with the known leading elements"
            )
        sizes = {len(a) for a in (c, g, x_k, values) if a is not None}
        if batch is not None:
            sizes.add(batch)
        if len(sizes) != 1:
            raise ValueError(
                f"cannot tell the batch size: context, guide, noise, inpaint values and batch= "
                f"give {sorted(sizes) or 'nothing'}"
            )
        n = sizes.pop()
        out = np.empty((n, cfg.length, cfg.x_dim), np.float32)

        def chunk(a: np.ndarray | None, lo: int, hi: int) -> torch.Tensor | None:
            return None if a is None else torch.from_numpy(a[lo:hi]).to(self.device)

        for lo in range(0, n, chunk_size):
            hi = min(lo + chunk_size, n)
            ct, gt, vt = chunk(c, lo, hi), chunk(g, lo, hi), chunk(values, lo, hi)
            x = sampler.sample(
                self.ema,
                None if ct is None else norm.context(ct),
                None if gt is None else norm.guide(gt),
                guidance=sampling.guidance,
                batch=hi - lo,
                noise=chunk(x_k, lo, hi),
                generator=generator,
                inpaint=None if mask is None else (mask, norm.x(vt)),
            )
            out[lo:hi] = norm.x_inverse(x).cpu().numpy()
        return out

    # ------------------------------------------------------------------------- persistence
    def save(self, directory: str | Path) -> Path:
        """Write model.safetensors (net, EMA, normalizer) then config.json, each atomically."""
        norm = self._require_fitted()
        directory = Path(directory)
        tensors = {
            f"net.{k}": v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()
        }
        tensors |= {
            f"ema.{k}": v.detach().cpu().contiguous() for k, v in self.ema.state_dict().items()
        }
        tensors |= {k: torch.from_numpy(v) for k, v in norm.arrays().items()}
        atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp))
        meta = {"format": FORMAT, "version": __version__, "config": self.config.to_dict()}
        if self.history is not None:
            meta["history"] = self.history.to_dict()
        atomic_write_json(directory / CONFIG_FILE, meta)
        return directory

    @classmethod
    def load(
        cls, directory: str | Path, device: torch.device | str | None = None
    ) -> DiffusionWorldModel:
        """Rebuild a saved model; clear errors for missing, corrupt or incompatible files."""
        directory = Path(directory)
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(
                    f"{directory / name} not found: not a directory written by "
                    "DiffusionWorldModel.save()"
                )
        try:
            meta = json.loads((directory / CONFIG_FILE).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(
                f"{directory / CONFIG_FILE} is corrupt ({e}); re-save the model"
            ) from e
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(
                f"{directory / CONFIG_FILE} has format {meta.get('format') if isinstance(meta, dict) else None!r}, "
                f"expected {FORMAT!r}"
            )
        saved = str(meta.get("version", "?"))
        if _major_minor(saved) != _major_minor(__version__):
            raise ValueError(
                f"model saved with diffusion_wm {saved}, installed {__version__}: install "
                f"diffusion_wm {saved} to load it (or retrain)"
            )
        try:
            config = WorldModelConfig.from_dict(meta["config"])
            history = FitHistory.from_dict(meta["history"]) if "history" in meta else None
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(
                f"{directory / CONFIG_FILE} holds an invalid config or history "
                f"({type(e).__name__}: {e}); fix or re-save the model"
            ) from e
        model = cls(config, device)
        try:
            tensors = load_file(str(directory / WEIGHTS_FILE))
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(
                f"{directory / WEIGHTS_FILE} is corrupt ({e}); re-save the model"
            ) from e
        for prefix, module in (("net.", model.net), ("ema.", model.ema)):
            state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                module.load_state_dict(state)
            except RuntimeError as e:
                first = str(e).splitlines()[0]
                raise ValueError(
                    f"{directory / WEIGHTS_FILE} does not match its config ({first})"
                ) from e
        try:
            model.normalizer = Normalizer.from_arrays({k: v.numpy() for k, v in tensors.items()})
        except KeyError as e:
            raise ValueError(f"{directory / WEIGHTS_FILE} lacks normalizer array {e}") from e
        model.history = history
        return model

    def export(
        self, sampling: SamplingConfig | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Weights and config for the native engine (docs/engine_contract.md).

        Weights: the EMA network's state_dict under its own names, `normalizer.*`,
        `schedule.alphas_cumprod` (K,), and the DDIM table for `sampling.steps` as `ddim.t`
        (exact small integers stored as float32), `ddim.alpha`, `ddim.alpha_prev`; all float32,
        C-contiguous. The config's sampling_steps, eta, clip and guidance come from `sampling`
        (None: SamplingConfig()): the engine generates with the settings it is exported with.
        """
        sampling = SamplingConfig() if sampling is None else sampling
        norm = self._require_fitted()
        sampler = self.sampler(sampling)
        table = sampler.ddim_table()
        weights = {
            k: np.ascontiguousarray(v.detach().cpu().numpy(), dtype=np.float32)
            for k, v in self.ema.state_dict().items()
        }
        weights |= norm.arrays()
        weights["schedule.alphas_cumprod"] = np.ascontiguousarray(self.schedule.alphas_cumprod)
        for key in ("t", "alpha", "alpha_prev"):
            weights[f"ddim.{key}"] = np.ascontiguousarray(table[key], dtype=np.float32)
        cfg = self.config
        config = {
            "format": FORMAT,
            "version": __version__,
            **cfg.unet_config().__dict__,
            "dim_mults": list(cfg.dim_mults),
            "diffusion_steps": cfg.diffusion_steps,
            "sampling_steps": sampling.steps,
            "eta": float(sampling.eta),
            "clip": float(sampling.clip),
            "guidance": float(sampling.guidance),
            "inpaint_tokens": cfg.inpaint_tokens,
            "ddim": {
                "t": table["t"].tolist(),
                "alpha": table["alpha"].tolist(),
                "alpha_prev": table["alpha_prev"].tolist(),
            },
        }
        return weights, config
