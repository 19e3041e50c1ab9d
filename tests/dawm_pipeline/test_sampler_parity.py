"""The native engine and the PyTorch path generate the same rollouts from the same seed."""

import numpy as np
import pytest
import torch
from dawm_pipeline import generate as gen
from dawm_pipeline import native
from dawm_pipeline.config import preset
from dawm_pipeline.sequences import sequence_length
from dawm_pipeline.stages.train_wm import model_config
from diffusion_wm import DiffusionWorldModel
from diffusion_wm.gemm_conv import Bf16Packing
from diffusion_wm.unet import GroupNormMish, SameConv1d
from inverse_dynamics import IDMConfig, InverseDynamicsModel

torch_ops = pytest.importorskip("dawm_kernels.torch_ops")
group_norm_mish, BF16_CONV_PACKING = torch_ops.group_norm_mish, torch_ops.BF16_CONV_PACKING


@pytest.mark.parametrize("action_tokens", [False, True])
def test_native_matches_torch_for_the_same_seed(action_tokens):
    torch.manual_seed(0)
    cfg = preset("tiny")
    # dim 32: 4 channels per GroupNorm group (1 channel per group is ill-conditioned in float32)
    cfg.wm.dim, cfg.horizon, cfg.wm.action_tokens = 32, 5, action_tokens
    obs_dim, act_dim, n = 11, 3, 64
    layout = cfg.token_layout(obs_dim, act_dim)
    rng = np.random.default_rng(0)
    length = sequence_length(cfg.horizon)
    x = rng.normal(size=(256, length, layout.x_dim)).astype(np.float32)
    context = rng.normal(size=(256, obs_dim + act_dim)).astype(np.float32)
    guide = rng.uniform(size=(256, 1)).astype(np.float32)
    wm = DiffusionWorldModel(model_config(cfg, obs_dim, act_dim), "cpu")
    wm.fit(x, context, guide, steps=3, batch_size=32, progress=False)
    idm = InverseDynamicsModel(IDMConfig(obs_dim, act_dim, hidden_sizes=(32, 32)), -1.0, 1.0)
    idm.set_normalization(x[:, :3, :obs_dim], context[:, obs_dim:])
    noise = gen.initial_noise(seed=7, chunk=0, n=n, length=length, x_dim=layout.x_dim)
    s, a, g = context[:n, :obs_dim], context[:n, obs_dim:], guide[:n]
    ref = gen.torch_generate(wm, idm, s, a, g, noise, cfg.sampling(), layout)
    engine = gen.native_engine(wm, idm, cfg.sampling(), layout)
    out = gen.native_generate(engine, s, a, g, noise)
    scale = wm.normalizer.x_hi - wm.normalizer.x_lo  # compare in normalized units
    np.testing.assert_allclose(
        out.states / scale[:obs_dim], ref.states / scale[:obs_dim], atol=1e-3
    )
    r = layout.reward_col
    np.testing.assert_allclose(out.rewards / scale[r], ref.rewards / scale[r], atol=1e-3)
    np.testing.assert_allclose(out.actions, ref.actions, atol=1e-3)
    np.testing.assert_array_equal(out.actions[:, 0], a)


def test_train_kernel_is_set_only_where_it_runs_natively():
    def kernels(model):
        return {m.kernel for m in model.net.modules() if isinstance(m, GroupNormMish)}

    cfg = model_config(preset("tiny"), 3, 2)
    for device, choice in (("cuda", "auto"), ("cpu", "torch")):
        model = DiffusionWorldModel(cfg, "cpu")
        assert native.use_train_kernel(model, choice, device) == "torch"
        assert kernels(model) == {None}
        assert {m.gemm_packing for m in model.net.modules() if isinstance(m, SameConv1d)} == {None}
    model = DiffusionWorldModel(cfg, "cpu")
    assert native.use_train_kernel(model, "auto", "cpu") == "native"
    assert kernels(model) == {group_norm_mish}
    convs = [m for m in model.net.modules() if isinstance(m, SameConv1d)]
    assert convs and {m.gemm_packing for m in convs} == {Bf16Packing(*BF16_CONV_PACKING)}


def test_sampler_resolution():
    assert native.resolve("auto", "--sampler") == "native"
    assert native.resolve("torch", "--sampler") == "torch"
