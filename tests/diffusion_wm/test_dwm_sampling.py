"""Cosine schedule, the DDIM table, guided DDIM vs the contract, DDIM(k=K, η=1) vs DDPM."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from diffusion_wm import (
    DDIMSampler,
    DDPMSampler,
    NoiseSchedule,
    SamplingConfig,
    TemporalUNet,
    UNetConfig,
)
from dwm_contract_reference import ddim as contract_ddim

torch.set_num_threads(1)


def test_cosine_schedule_matches_the_closed_form():
    k, s = 5, 0.008
    f = [math.cos((i / k + s) / (1 + s) * math.pi / 2) ** 2 for i in range(k + 1)]
    betas = [min(1 - f[i + 1] / f[i], 0.999) for i in range(k)]
    expected = np.cumprod([1 - b for b in betas])
    sched = NoiseSchedule(k)
    np.testing.assert_allclose(sched.alphas_cumprod, expected, rtol=1e-6)
    assert sched.alphas_cumprod.dtype == np.float32
    assert np.all(np.diff(sched.alphas_cumprod) < 0)  # k = 0 least noisy


@pytest.mark.parametrize(
    "k_train, k_sample, t",
    [
        (5, 3, [4, 2, 0]),
        (5, 5, [4, 3, 2, 1, 0]),
        (5, 1, [4]),
        (5, 4, [4, 3, 1, 0]),
        (6, 3, [5, 2, 0]),
    ],
)
def test_ddim_table(k_train, k_sample, t):
    sched = NoiseSchedule(k_train)
    table = DDIMSampler(sched, k_sample).ddim_table()
    np.testing.assert_array_equal(table["t"], t)
    assert table["t"].dtype == np.int64
    np.testing.assert_array_equal(table["alpha"], sched.alphas_cumprod[t])
    np.testing.assert_array_equal(table["alpha_prev"][:-1], sched.alphas_cumprod[t[1:]])
    assert table["alpha_prev"][-1] == 1.0


def test_sampling_steps_beyond_training_steps_raise():
    with pytest.raises(ValueError, match=r"sampling steps must be in 1\.\.5"):
        DDIMSampler(NoiseSchedule(5), 6)


def test_sampling_config_defaults_are_the_paper_settings():
    s = SamplingConfig()
    assert (s.steps, s.guidance, s.clip, s.eta) == (3, 1.2, 1.0, 0.0)
    s.check(3)  # k = K is allowed
    with pytest.raises(ValueError, match=r"steps=3 exceeds the model's diffusion_steps \(2\)"):
        s.check(2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.steps = 5  # type: ignore[misc]


BAD_SAMPLING = [
    ({"steps": 0}, r"SamplingConfig\.steps must be an int >= 1, got 0 \(DWM uses 3\)"),
    ({"steps": 2.5}, r"SamplingConfig\.steps must be an int >= 1, got 2\.5"),
    ({"steps": True}, r"SamplingConfig\.steps must be an int >= 1, got True"),
    ({"guidance": math.inf}, r"SamplingConfig\.guidance must be a finite number, got inf"),
    ({"guidance": math.nan}, r"SamplingConfig\.guidance must be a finite number, got nan"),
    ({"clip": 0.0}, r"SamplingConfig\.clip must be a finite number > 0, got 0\.0"),
    ({"clip": -1.0}, r"SamplingConfig\.clip must be a finite number > 0, got -1\.0"),
    ({"clip": math.nan}, r"SamplingConfig\.clip must be a finite number > 0, got nan"),
    ({"clip": math.inf}, r"SamplingConfig\.clip must be a finite number > 0, got inf"),
    ({"eta": -0.1}, r"SamplingConfig\.eta must be a finite number >= 0, got -0\.1"),
    ({"eta": math.nan}, r"SamplingConfig\.eta must be a finite number >= 0, got nan"),
]


@pytest.mark.parametrize(
    "kwargs, msg",
    BAD_SAMPLING,
    ids=["{}={}".format(*next(iter(kw.items()))) for kw, _ in BAD_SAMPLING],
)
def test_sampling_config_rejects_bad_values(kwargs, msg):
    with pytest.raises(ValueError, match=msg) as err:
        SamplingConfig(**kwargs)
    assert "\n" not in str(err.value)  # one line, naming the field, the value and the fix


def _net(prediction="x0", guide_dim=2, gain=20.0) -> TemporalUNet:
    torch.manual_seed(0)
    cfg = UNetConfig(x_dim=3, length=6, context_dim=4, guide_dim=guide_dim, dim=16,
                     dim_mults=(1, 2), prediction=prediction)  # fmt: skip
    net = TemporalUNet(cfg).eval()
    with torch.no_grad():  # larger outputs than at init, so clipping and guidance both matter
        net.final.out.weight.mul_(gain)
    return net


def _cond(b=6, g_dim=2):
    gen = torch.Generator().manual_seed(3)
    return torch.randn(b, 4, generator=gen), torch.randn(b, g_dim, generator=gen)


@pytest.mark.parametrize("prediction", ["x0", "epsilon"])
@pytest.mark.parametrize("guidance", [1.0, 2.5])
def test_guided_ddim_matches_the_contract_reference(prediction, guidance):
    net = _net(prediction)
    c, g = _cond()
    sched = NoiseSchedule(5)
    sampler = DDIMSampler(sched, 3)
    noise = torch.randn(6, 6, 3, generator=torch.Generator().manual_seed(4))
    mask = torch.zeros(6, 3, dtype=torch.bool)
    mask[0] = True
    known = torch.rand(6, 6, 3) * 2 - 1
    ours = sampler.sample(net, c, g, guidance=guidance, noise=noise, inpaint=(mask, known))
    weights = {k: v.numpy() for k, v in net.state_dict().items()}
    weights |= {f"ddim.{k}": v.astype(np.float32) for k, v in sampler.ddim_table().items()}
    config = {"dim": 16, "dim_mults": [1, 2], "context_dim": 4, "guide_dim": 2,
              "prediction": prediction, "clip": 1.0}  # fmt: skip
    with torch.no_grad():
        ref = contract_ddim(weights, config, noise, c, g, guidance, mask, known)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-5, rtol=0)
    torch.testing.assert_close(ours[:, 0], known[:, 0], rtol=0, atol=0)  # inpainted exactly
    assert ours.abs().max() <= 1.0 + 1e-6  # x0 clipped, final step returns x0


def test_guidance_weight_changes_samples_and_omega_one_is_conditional():
    net = _net()
    c, g = _cond()
    noise = torch.randn(6, 6, 3, generator=torch.Generator().manual_seed(5))
    sampler = DDIMSampler(NoiseSchedule(5), 3)
    x1 = sampler.sample(net, c, g, guidance=1.0, noise=noise)
    x3 = sampler.sample(net, c, g, guidance=3.0, noise=noise)
    x0_ = sampler.sample(net, c, g, guidance=0.0, noise=noise)
    assert not torch.allclose(x1, x3)
    # ω = 0 is the unconditional model: the guide value no longer matters
    torch.testing.assert_close(x0_, sampler.sample(net, c, -g, guidance=0.0, noise=noise))


@pytest.mark.parametrize("prediction", ["x0", "epsilon"])
def test_ddim_with_all_steps_and_eta_one_is_the_ddpm_path(prediction):
    # Two different formulas (DDIM's σ-step vs the DDPM posterior mean/variance) that agree
    # exactly in real arithmetic; a large output gain would amplify float32 rounding.
    net = _net(prediction, gain=1.0)
    c, g = _cond()
    sched = NoiseSchedule(5)
    ddim = DDIMSampler(sched, 5, eta=1.0).sample(
        net, c, g, guidance=1.7, generator=torch.Generator().manual_seed(7)
    )
    ddpm = DDPMSampler(sched, clip=1.0).sample(
        net, c, g, guidance=1.7, generator=torch.Generator().manual_seed(7)
    )
    np.testing.assert_allclose(ddim.numpy(), ddpm.numpy(), atol=2e-5, rtol=0)
    # and η = 0 differs from it (deterministic path, no fresh noise)
    det = DDIMSampler(sched, 5).sample(
        net, c, g, guidance=1.7, generator=torch.Generator().manual_seed(7)
    )
    assert not torch.allclose(det, ddpm, atol=1e-3)


def test_same_generator_same_samples_and_lengths():
    net = _net(guide_dim=0)
    c, _ = _cond()
    s = DDIMSampler(NoiseSchedule(5), 3)
    a = s.sample(net, c, generator=torch.Generator().manual_seed(1))
    b = s.sample(net, c, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert s.sample(net, c, length=11).shape == (6, 11, 3)


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"context": torch.zeros(6, 5)}, r"context must have shape \(B, 4\)"),
        ({"guide": None}, "expects a guide"),
        ({"noise": torch.zeros(5, 6, 3)}, "disagree on the batch size"),
        ({"noise": torch.zeros(6, 6, 2)}, r"noise must have shape \(B, L, 3\)"),
    ],
)
def test_bad_sampler_inputs_raise(kwargs, msg):
    c, g = _cond()
    args = {"context": c, "guide": g} | kwargs
    with pytest.raises(ValueError, match=msg):
        DDIMSampler(NoiseSchedule(5), 3).sample(_net(), **args)
