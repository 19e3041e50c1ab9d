"""The engine's Python face: building, seeding, threads, layouts and clear errors."""

from __future__ import annotations

import shutil

import dawm_kernels as dk
import numpy as np
import pytest
import torch
from dawm_kernels import _core
from dk_reference import Case, make_inputs, make_models

CASE = Case(length=4, dim=16)
H = CASE.length - 1  # generated steps: token 0 is s_t


@pytest.fixture(scope="module")
def models():
    return make_models(CASE)


@pytest.fixture(scope="module")
def engine(models):
    wm, idm = models
    return dk.Engine.from_exports(wm.export(CASE.sampling), idm.export(), threads=2, tile=4)


def test_native_core_is_built_with_cuda_when_nvcc_exists() -> None:
    # A build that silently dropped the CUDA engine would pass every CPU test.
    assert _core.cuda_compiled == (shutil.which("nvcc") is not None)
    assert "generic" in dk.supported_isas()


def test_outputs_follow_the_dawm_layout(engine, models) -> None:
    inputs = make_inputs(CASE, batch=9)
    states, rewards, actions = engine.generate(
        inputs["states"], inputs["actions"], inputs["rtg"], seed=3
    )
    assert engine.length == CASE.length
    assert states.shape == (9, H, CASE.obs) and rewards.shape == (9, H)
    assert actions.shape == (9, H, CASE.act)
    np.testing.assert_array_equal(actions[:, 0], inputs["actions"])
    # IDM actions are clipped to the bounds given to the IDM ([-1, 1]).
    assert np.abs(actions).max() <= 1.0
    # Generated x0 is clipped to [-1, 1] in normalized space: raw values stay in [lo, hi].
    norm = models[0].normalizer
    assert (states >= norm.x_lo[: CASE.obs] - 1e-5).all()
    assert (states <= norm.x_hi[: CASE.obs] + 1e-5).all()


def test_seeded_noise_is_deterministic_and_independent_of_threads_and_tiles(models) -> None:
    wm, idm = models
    inputs = make_inputs(CASE, batch=21)
    args = (inputs["states"], inputs["actions"], inputs["rtg"])
    exports = (wm.export(CASE.sampling), idm.export())
    runs = [
        dk.Engine.from_exports(*exports, threads=t, tile=k).sample(*args, seed=7)
        for t, k in ((1, 16), (2, 4), (2, 5))
    ]
    for other in runs[1:]:
        np.testing.assert_array_equal(other.x, runs[0].x)
        np.testing.assert_array_equal(other.actions, runs[0].actions)
    engine = dk.Engine.from_exports(wm.export(CASE.sampling), idm.export(), threads=1)
    assert not np.array_equal(engine.sample(*args, seed=8).x, runs[0].x)
    # A sample's noise depends on its index only: a prefix of the batch reproduces exactly.
    head = engine.sample(*(a[:5] for a in args), seed=7)
    np.testing.assert_array_equal(head.x, runs[0].x[:5])


def test_seeded_path_uses_the_documented_generator(engine) -> None:
    inputs = make_inputs(CASE, batch=6)
    args = (inputs["states"], inputs["actions"], inputs["rtg"])
    noise = engine.initial_noise(6, seed=11)
    assert noise.shape == (6, CASE.length, CASE.obs + 1) and noise.dtype == np.float32
    np.testing.assert_array_equal(
        engine.sample(*args, seed=11).x, engine.sample(*args, noise=noise).x
    )
    big = engine.initial_noise(4000, seed=3).ravel()
    assert abs(big.mean()) < 0.01 and abs(big.std() - 1.0) < 0.01
    assert abs(np.corrcoef(big[:-1], big[1:])[0, 1]) < 0.01


def test_schedule_sources_agree(models) -> None:
    wm, idm = models
    inputs = make_inputs(CASE, batch=5)
    args = (inputs["states"], inputs["actions"], inputs["rtg"])
    sampler = wm.sampler(CASE.sampling)
    outs = [
        dk.Engine.from_exports(wm.export(CASE.sampling), idm.export(), schedule=s, steps=3).sample(
            *args, noise=inputs["noise"]
        )
        for s in (None, sampler, sampler.ddim_table(), wm.schedule)
    ]
    for other in outs[1:]:
        np.testing.assert_array_equal(other.x, outs[0].x)


def test_rtg_as_vector_and_torch_tensors_via_dlpack(engine) -> None:
    inputs = make_inputs(CASE, batch=6)
    a = engine.sample(inputs["states"], inputs["actions"], inputs["rtg"], seed=1)
    b = engine.sample(
        torch.from_numpy(inputs["states"]),
        torch.from_numpy(inputs["actions"]),
        torch.from_numpy(inputs["rtg"][:, 0]),
        seed=1,
    )
    np.testing.assert_array_equal(a.x, b.x)


def test_empty_batch_returns_empty_arrays(engine) -> None:
    s, r, a = engine.generate(
        np.zeros((0, CASE.obs), np.float32),
        np.zeros((0, CASE.act), np.float32),
        np.zeros((0, 1), np.float32),
    )
    assert s.shape == (0, H, CASE.obs) and r.shape == (0, H) and a.shape == (0, H, CASE.act)


def test_clear_errors_for_bad_exports_and_settings(models) -> None:
    wm, idm = models
    weights, config = wm.export(CASE.sampling)
    with pytest.raises(ValueError, match=r"no weight 'mid\.block1\.conv1\.weight'"):
        dk.Engine.from_exports(
            ({k: v for k, v in weights.items() if k != "mid.block1.conv1.weight"}, config),
            idm.export(),
        )
    bad = dict(weights)
    bad["final.out.weight"] = np.zeros((3, 3, 1), np.float32)
    with pytest.raises(ValueError, match=r"final\.out\.weight' has shape"):
        dk.Engine.from_exports((bad, config), idm.export())
    with pytest.raises(ValueError, match="float32"):
        dk.Engine.from_exports(({**weights, "final.out.bias": np.zeros(6)}, config), idm.export())
    with pytest.raises(ValueError, match="steps=4 but the DDIM table has 3"):
        dk.Engine.from_exports(wm.export(CASE.sampling), idm.export(), steps=4)
    with pytest.raises(ValueError, match="eta"):
        dk.Engine.from_exports((weights, {**config, "eta": 0.5}), idm.export())
    with pytest.raises(ValueError, match="U-Net config lacks 'length'"):
        dk.Engine.from_exports(
            (weights, {k: v for k, v in config.items() if k != "length"}), idm.export()
        )
    with pytest.raises(ValueError, match="length must be >= 2"):
        dk.Engine.from_exports((weights, {**config, "length": 1}), idm.export())
    with pytest.raises(ValueError, match="device"):
        dk.Engine.from_exports(wm.export(CASE.sampling), idm.export(), device="tpu")
    with pytest.raises(ValueError, match="CPU kernel variant"):
        dk.Engine.from_exports(wm.export(CASE.sampling), idm.export(), isa="sse9")
    with pytest.raises(ValueError, match="\\(weights, config\\)"):
        dk.Engine.from_exports(weights, idm.export())
    with pytest.raises(ValueError, match="precision must be one of"):
        dk.Engine.from_exports(wm.export(CASE.sampling), idm.export(), precision="bf16")
    with pytest.raises(ValueError, match=r"tf32.*tensor cores.*pass device='cuda'"):
        dk.Engine.from_exports(wm.export(CASE.sampling), idm.export(), precision="tf32")


def test_cuda_device_request_without_gpu_is_a_clear_error(models) -> None:
    ok, why = dk.cuda_status()
    if ok:
        pytest.skip("a CUDA device is present")
    wm, idm = models
    with pytest.raises(RuntimeError, match="not available"):
        dk.Engine.from_exports(wm.export(CASE.sampling), idm.export(), device="cuda")
    assert why
