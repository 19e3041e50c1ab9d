"""PyTorch reference for the engine: diffusion_wm's DDIMSampler with token-0 inpainting and the
IDM's mean action on the generated windows (docs/engine_contract.md, DAWM layout)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from diffusion_wm import DiffusionWorldModel, Normalizer, SamplingConfig, WorldModelConfig
from inverse_dynamics import IDMConfig, InverseDynamicsModel
from torch import nn


@dataclass(frozen=True)
class Case:
    """One engine configuration: hopper-like shapes scaled down so a test takes milliseconds.

    `length` L is the sequence length: token 0 is s_t, tokens 1..L-1 the generated steps.
    `steps` and `guidance` are how the case is sampled (`sampling`), not part of the model.
    """

    obs: int = 5
    act: int = 2
    length: int = 4
    dim: int = 16
    dim_mults: tuple[int, ...] = (1, 2, 4)
    prediction: str = "epsilon"
    guidance: float = 1.2
    steps: int = 3
    history: int = 1
    activation: str = "relu"
    seed: int = 0

    @property
    def sampling(self) -> SamplingConfig:
        return SamplingConfig(steps=self.steps, guidance=self.guidance)


def make_models(case: Case) -> tuple[DiffusionWorldModel, InverseDynamicsModel]:
    """Randomly initialized models with perturbed norms and non-trivial normalizers, so every
    weight and statistic matters to the output."""
    torch.manual_seed(case.seed)
    gen = torch.Generator().manual_seed(case.seed)
    obs, act = case.obs, case.act
    cfg = WorldModelConfig(
        x_dim=obs + 1,
        length=case.length,
        context_dim=obs + act,
        guide_dim=1,
        dim=case.dim,
        dim_mults=case.dim_mults,
        prediction=case.prediction,
        inpaint_tokens=1,
    )
    wm = DiffusionWorldModel(cfg, "cpu")  # the reference is CPU float32 (no TF32)
    rs = np.random.default_rng(case.seed)
    lo = (rs.normal(size=obs + 1) - 1).astype(np.float32)
    hi = (lo + rs.uniform(0.5, 2.0, obs + 1)).astype(np.float32)
    wm.normalizer = Normalizer(
        lo,
        hi,
        rs.normal(size=obs + act).astype(np.float32),
        rs.uniform(0.5, 2.0, obs + act).astype(np.float32),
        rs.normal(size=1).astype(np.float32),
        rs.uniform(0.5, 2.0, 1).astype(np.float32),
    )
    idm = InverseDynamicsModel(
        IDMConfig(
            obs, act, history=case.history, hidden_sizes=(32, 32), activation=case.activation
        ),
        -np.ones(act),
        np.ones(act),
    )
    with torch.no_grad():
        for p in wm.ema.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
        for p in idm.net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
        idm.obs_mean.copy_(torch.randn(obs, generator=gen))
        idm.obs_std.copy_(torch.rand(obs, generator=gen) + 0.5)
        idm.act_mean.copy_(0.1 * torch.randn(act, generator=gen))
        idm.act_std.copy_(torch.rand(act, generator=gen) + 0.5)
    return wm, idm


def make_inputs(case: Case, batch: int, seed: int = 1) -> dict[str, np.ndarray]:
    rs = np.random.default_rng(seed)
    return {
        "states": rs.normal(size=(batch, case.obs)).astype(np.float32),
        "actions": rs.uniform(-1, 1, (batch, case.act)).astype(np.float32),
        "rtg": rs.normal(size=(batch, 1)).astype(np.float32),
        "noise": rs.normal(size=(batch, case.length, case.obs + 1)).astype(np.float32),
    }


def round_tf32(x: torch.Tensor) -> torch.Tensor:
    """x rounded to TF32 (10 mantissa bits) as the tensor cores' cvt.rna.tf32.f32 does: to
    nearest, ties away from zero. Adding half an ulp to the sign-magnitude bits and masking
    rounds the magnitude, whatever the sign; NaNs pass through (their payload could carry)."""
    x = x.float().contiguous()
    rounded = ((x.view(torch.int32) + 0x1000) & ~0x1FFF).view(torch.float32)
    return torch.where(x.isnan(), x, rounded)


GEMM_LAYERS = (nn.Linear, nn.Conv1d, nn.ConvTranspose1d)
HOST_FLOAT32 = ("time_mlp",)
"""Layers the engine runs on the host in float32 when it builds (csrc/model.cpp: the diffusion
step's embedding is a table of time_mlp(sinusoid(t)) for the DDIM steps), not on the GPU."""


def tf32_layers(module: nn.Module) -> list[str]:
    """Names of the layers the CUDA engine runs as TF32 tensor-core GEMMs."""
    return [
        name
        for name, layer in module.named_modules()
        if isinstance(layer, GEMM_LAYERS) and name.split(".")[0] not in HOST_FLOAT32
    ]


def as_tf32(module: nn.Module) -> nn.Module:
    """A copy of `module` whose `tf32_layers` see TF32-rounded weights and inputs and sum in
    float32: what the CUDA engine's tensor-core GEMMs compute (biases are added in float32)."""
    module = copy.deepcopy(module)
    for name in tf32_layers(module):
        layer = module.get_submodule(name)
        with torch.no_grad():
            layer.weight.copy_(round_tf32(layer.weight))
        layer.register_forward_pre_hook(lambda _m, args: (round_tf32(args[0]), *args[1:]))
    return module


def reference(
    wm: DiffusionWorldModel,
    idm: InverseDynamicsModel,
    inputs: dict[str, np.ndarray],
    sampling: SamplingConfig,
    dtype: torch.dtype = torch.float32,
    tf32: bool = False,
) -> dict[str, np.ndarray]:
    """x (normalized), states, rewards and actions from the PyTorch modules, sampled with
    `sampling` (DDIM steps and guidance ω).

    dtype float64 runs the same algorithm with the same float32 weights, table and
    statistics in double precision: a yardstick for PyTorch's own float32 rounding. `tf32`
    rounds every GEMM's weights and inputs to TF32 (float32 only): the yardstick for the CUDA
    engine's tensor-core precision.
    """
    net = wm.ema
    if tf32:
        if dtype != torch.float32:
            raise ValueError("tf32 emulation runs in float32")
        net, idm = as_tf32(net), as_tf32(idm)
    if dtype == torch.float64:
        net = copy.deepcopy(net).double()
        # sinusoidal_embedding is float32 by construction; feed its output to the double MLP.
        net.time_mlp.register_forward_pre_hook(lambda _m, args: (args[0].double(),))
    cfg = wm.config
    obs, length = inputs["states"].shape[1], cfg.length
    tn = wm.normalizer.torch("cpu")
    s_t, a_t, g_t, noise = (
        torch.from_numpy(inputs[k]).to(dtype) for k in ("states", "actions", "rtg", "noise")
    )
    context = tn.context(torch.cat([s_t, a_t], 1))
    guide = tn.guide(g_t)
    known = torch.zeros(len(s_t), length, cfg.x_dim, dtype=dtype)
    known[:, 0, :obs] = s_t
    mask = torch.zeros(length, cfg.x_dim, dtype=torch.bool)
    mask[0] = True
    x = wm.sampler(sampling).sample(
        net, context, guide, guidance=sampling.guidance, noise=noise, inpaint=(mask, tn.x(known))
    )
    raw = tn.x_inverse(x)
    states, rewards = raw[:, 1:, :obs], raw[:, 1:, obs]
    m = idm.config.history
    # seq[:, m + j] = s_{t+j}: the history before t repeats s_t (contract).
    seq = torch.cat([s_t[:, None].repeat(1, m + 1, 1), states], 1).float()
    actions = [a_t.float()]
    for i in range(1, length - 1):
        actions.append(idm.mean(seq[:, i : i + m + 2]))
    return {
        "x": x.double().numpy(),
        "states": states.double().numpy(),
        "rewards": rewards.double().numpy(),
        "actions": torch.stack(actions, 1).double().numpy(),
    }
