"""DiffusionWorldModel end to end on toy conditional distributions with known answers."""

import dataclasses
import json
import re

import numpy as np
import pytest
import torch
from diffusion_wm import DiffusionWorldModel, SamplingConfig, WorldModelConfig, __version__
from diffusion_wm.training import update_ema
from dwm_toys import L, bimodal_data, mode_of, sine_conditions, sine_data, sine_mean

torch.set_num_threads(1)
FAST = dict(dim=16, dim_mults=(1, 2), ema_start=250, ema_every=1, ema_decay=0.99)
FIT = dict(steps=500, batch_size=64, lr=2e-3, progress=False, log_every=100, eval_every=250)


@pytest.fixture(scope="module")
def sine_model():
    x, c, g = sine_data(2000)
    model = DiffusionWorldModel(  # CPU on a GPU machine too: the tests read tensors as NumPy
        WorldModelConfig(x_dim=2, length=L, context_dim=2, guide_dim=1, **FAST), "cpu"
    )
    model.fit(x, c, g, **FIT)
    return model


@pytest.fixture(scope="module")
def bimodal_model():
    x, g = bimodal_data(2000)
    model = DiffusionWorldModel(WorldModelConfig(x_dim=1, length=L, guide_dim=1, **FAST))
    model.fit(x, None, g, **FIT)
    return model


def test_training_reduces_loss_and_samples_match_the_conditional_mean(sine_model):
    h = sine_model.history
    assert h.step[-1] == 500 and len(h.loss) == 5 and h.val_step == [250, 500]
    assert h.loss[-1] < 0.5 * h.loss[0]
    assert h.steps_per_second > 0
    c, g = sine_conditions(300, seed=7)  # unseen conditions
    x = sine_model.sample(
        c, g, sampling=SamplingConfig(guidance=1.0), generator=torch.Generator().manual_seed(0)
    )
    assert x.shape == (300, L, 2) and x.dtype == np.float32
    mae = np.abs(x - sine_mean(c, g)).mean(axis=(0, 1))
    # data noise is 0.05; mean |x| is 0.65 (sine) and 0.23 (ramp)
    assert mae[0] < 0.06 and mae[1] < 0.04, mae


def test_cfg_moves_samples_toward_the_guide_and_both_modes_survive(bimodal_model):
    g = (1.2 * np.random.default_rng(5).normal(size=(400, 1))).astype(np.float32)
    agree, near_mode = {}, {}
    for w in (0.0, 1.0, 3.0):
        x = bimodal_model.sample(
            None, g, sampling=SamplingConfig(guidance=w), generator=torch.Generator().manual_seed(0)
        )
        proj = mode_of(x)
        agree[w] = np.mean(np.sign(proj) == np.sign(g[:, 0]))
        near_mode[w] = np.mean(np.abs(np.abs(proj) - 1.0) < 0.25)
    assert 0.35 < agree[0.0] < 0.65  # unconditional: both modes, independent of g
    assert agree[1.0] > 0.8  # conditional: mostly the hinted mode
    assert agree[3.0] > agree[1.0] and agree[3.0] > 0.9  # ω > 1 sharpens toward the guide
    assert min(near_mode.values()) > 0.85  # samples sit on a mode, not averaged between


def test_save_load_sample_is_bit_identical(sine_model, tmp_path):
    sine_model.save(tmp_path / "m")
    loaded = DiffusionWorldModel.load(tmp_path / "m", device="cpu")
    assert loaded.config == sine_model.config
    assert loaded.history.loss == sine_model.history.loss
    c, g = sine_conditions(50, seed=3)
    a = sine_model.sample(c, g, generator=torch.Generator().manual_seed(11))
    b = loaded.sample(c, g, generator=torch.Generator().manual_seed(11))
    np.testing.assert_array_equal(a, b)
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["version"] == __version__ and meta["config"]["x_dim"] == 2


def test_sampling_settings_are_not_part_of_a_saved_model(sine_model, tmp_path):
    names = {f.name for f in dataclasses.fields(WorldModelConfig)}
    assert names.isdisjoint({"sampling_steps", "steps", "guidance", "clip", "eta"})
    assert "length" in names and "horizon" not in names
    sine_model.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())["config"]
    assert saved.keys() == names
    loaded = DiffusionWorldModel.load(tmp_path / "m", device="cpu")
    c, g = sine_conditions(50, seed=5)

    def draw(model, sampling):
        return model.sample(c, g, sampling=sampling, generator=torch.Generator().manual_seed(3))

    weak, strong = SamplingConfig(guidance=1.0), SamplingConfig(guidance=3.0)
    a, b = draw(loaded, weak), draw(loaded, strong)
    assert np.abs(a - b).max() > 1e-2  # the settings chosen at sampling time take effect
    np.testing.assert_array_equal(a, draw(sine_model, weak))
    np.testing.assert_array_equal(b, draw(sine_model, strong))
    # A config saved with sampling fields (diffusion_wm 0.1) is refused, naming them.
    with pytest.raises(ValueError, match=r"unknown WorldModelConfig fields \['guidance'\]"):
        WorldModelConfig.from_dict(saved | {"guidance": 1.2})


def test_export_has_contract_names_float32_contiguous(sine_model):
    weights, config = sine_model.export(SamplingConfig(steps=3))
    ema = sine_model.ema.state_dict()
    extra = {
        "normalizer.x_lo", "normalizer.x_hi", "normalizer.c_mean", "normalizer.c_std",
        "normalizer.g_mean", "normalizer.g_std", "schedule.alphas_cumprod",
        "ddim.t", "ddim.alpha", "ddim.alpha_prev",
    }  # fmt: skip
    assert set(weights) == set(ema) | extra
    for name, arr in weights.items():
        assert arr.dtype == np.float32 and arr.flags.c_contiguous, name
    for name, t in ema.items():
        np.testing.assert_array_equal(weights[name], t.numpy())
    np.testing.assert_array_equal(weights["ddim.t"], [4, 2, 0])
    assert config["ddim"]["t"] == [4, 2, 0] and config["prediction"] == "x0"
    assert config["length"] == L and config["dim_mults"] == [1, 2] and "horizon" not in config
    defaults = SamplingConfig()
    assert (config["sampling_steps"], config["guidance"]) == (defaults.steps, defaults.guidance)
    assert (config["clip"], config["eta"]) == (defaults.clip, defaults.eta)
    json.dumps(config)  # plain JSON types only
    # The engine reads the sampling settings the model is exported with.
    weights, config = sine_model.export(SamplingConfig(steps=2, guidance=1.7, clip=0.5))
    assert config["ddim"]["t"] == [4, 0] and weights["ddim.t"].tolist() == [4, 0]
    assert (config["sampling_steps"], config["guidance"], config["clip"]) == (2, 1.7, 0.5)


def test_normalized_sampling_matches_raw_sampling(sine_model):
    """The raw API is the normalized sampler plus the stored normalizer (what the engine does)."""
    c, g = sine_conditions(20, seed=4)
    noise = torch.randn(20, L, 2, generator=torch.Generator().manual_seed(2))
    sampling = SamplingConfig(guidance=1.5)
    raw = sine_model.sample(c, g, noise=noise.numpy(), sampling=sampling)
    norm = sine_model.normalizer.torch("cpu")
    x = sine_model.sampler(sampling).sample(
        sine_model.ema,
        norm.context(torch.from_numpy(c)),
        norm.guide(torch.from_numpy(g)),
        guidance=sampling.guidance,
        noise=noise,
    )
    np.testing.assert_allclose(raw, norm.x_inverse(x).numpy(), atol=1e-6)


def test_inpainted_leading_token_is_kept():
    x, c, g = sine_data(300)
    cfg = WorldModelConfig(x_dim=2, length=L, context_dim=2, guide_dim=1, inpaint_tokens=1,
                           **FAST)  # fmt: skip
    model = DiffusionWorldModel(cfg)
    model.fit(x, c, g, steps=5, batch_size=16, progress=False)
    mask = np.zeros((L, 2), bool)
    mask[0] = True
    with pytest.raises(ValueError, match="inpaint_tokens=1"):
        model.sample(c[:4], g[:4])
    out = model.sample(c[:4], g[:4], inpaint=(mask, x[:4]))
    np.testing.assert_allclose(out[:, 0], x[:4, 0], atol=1e-5)


def test_resume_continues_bit_identically(tmp_path):
    x, c, g = sine_data(200)
    cfg = WorldModelConfig(x_dim=2, length=L, context_dim=2, guide_dim=1, **FAST)
    kw = dict(batch_size=16, lr=1e-3, progress=False, log_every=5, eval_every=5)
    torch.manual_seed(0)
    straight = DiffusionWorldModel(cfg)
    straight.fit(x, c, g, steps=20, **kw)
    torch.manual_seed(0)  # the same initial weights
    first = DiffusionWorldModel(cfg)
    first.fit(x, c, g, steps=10, checkpoint_dir=tmp_path, checkpoint_every=5, **kw)
    resumed = DiffusionWorldModel(cfg)  # a fresh process would start here
    hist = resumed.fit(x, c, g, steps=20, checkpoint_dir=tmp_path, checkpoint_every=5, **kw)
    for a, b in zip(straight.net.parameters(), resumed.net.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(straight.ema.parameters(), resumed.ema.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert hist.loss == straight.history.loss and hist.step == [5, 10, 15, 20]
    with pytest.raises(ValueError, match="other data"):
        DiffusionWorldModel(cfg).fit(x + 1, c, g, steps=30, checkpoint_dir=tmp_path, **kw)
    with pytest.raises(ValueError, match="fit arguments"):
        DiffusionWorldModel(cfg).fit(
            x, c, g, steps=30, checkpoint_dir=tmp_path, **(kw | {"lr": 5e-4})
        )


def test_on_log_receives_every_curve_point_as_it_is_computed():
    x, c, g = sine_data(200)
    cfg = WorldModelConfig(x_dim=2, length=L, context_dim=2, guide_dim=1, **FAST)
    seen: list[tuple[str, int, float]] = []
    model = DiffusionWorldModel(cfg)
    hist = model.fit(x, c, g, steps=12, batch_size=16, progress=False, log_every=4,
                     eval_every=6, on_log=lambda *point: seen.append(point))  # fmt: skip
    assert [p for p in seen if p[0] == "loss"] == [
        ("loss", s, v) for s, v in zip(hist.step, hist.loss, strict=True)
    ]
    assert [p for p in seen if p[0] == "val_loss"] == [
        ("val_loss", s, v) for s, v in zip(hist.val_step, hist.val_loss, strict=True)
    ]
    assert hist.step == [4, 8, 12] and hist.val_step == [6, 12]


def test_ema_update_rule_and_schedule():
    ema, params = [torch.zeros(3)], [torch.ones(3)]
    update_ema(ema, params, decay=0.9, copy=False)
    torch.testing.assert_close(ema[0], torch.full((3,), 0.1))
    update_ema(ema, params, decay=0.9, copy=False)
    torch.testing.assert_close(ema[0], torch.full((3,), 0.19))
    update_ema(ema, [torch.full((3,), 5.0)], decay=0.9, copy=True)
    torch.testing.assert_close(ema[0], torch.full((3,), 5.0))

    x, c, g = sine_data(200)
    base = dict(x_dim=2, length=L, context_dim=2, guide_dim=1, dim=16, dim_mults=(1, 2))
    kw = dict(steps=8, batch_size=16, lr=1e-2, progress=False)
    copying = DiffusionWorldModel(WorldModelConfig(**base, ema_every=1, ema_start=100))
    copying.fit(x, c, g, **kw)  # before ema_start the EMA is a copy of the weights
    for e, p in zip(copying.ema.parameters(), copying.net.parameters(), strict=True):
        torch.testing.assert_close(e, p, rtol=0, atol=0)
    averaging = DiffusionWorldModel(WorldModelConfig(**base, ema_every=1, ema_start=0))
    init = [p.detach().clone() for p in averaging.net.parameters()]
    averaging.fit(x, c, g, **kw)
    # after 8 updates at decay 0.995 the EMA has moved only ~4% of the way from the init
    moved = sum((e - i).abs().sum() for e, i in zip(averaging.ema.parameters(), init, strict=True))
    total = sum((p - i).abs().sum() for p, i in zip(averaging.net.parameters(), init, strict=True))
    assert 0 < moved < 0.15 * total


@pytest.mark.parametrize(
    "call, msg",
    [
        (lambda m, x, c, g: m.fit(x, c[:, :1], g, steps=1), "context has last dimension 1"),
        (lambda m, x, c, g: m.fit(x, c, np.zeros((len(x), 3)), steps=1), "guide has last dim"),
        (lambda m, x, c, g: m.fit(x, c, None, steps=1), "needs a guide"),
        (lambda m, x, c, g: m.fit(x[:, :5], c, g, steps=1), "sequence length 5"),
        (lambda m, x, c, g: m.fit(np.where(x > 1.4, np.nan, x), c, g, steps=1), "NaN"),
        (lambda m, x, c, g: m.fit(x, c[:10], g, steps=1), "same number of rows"),
        (lambda m, x, c, g: m.sample(c, g), "not fitted"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, msg):
    x, c, g = sine_data(40)
    model = DiffusionWorldModel(
        WorldModelConfig(x_dim=2, length=L, context_dim=2, guide_dim=1, dim=8, dim_mults=(1,))
    )
    with pytest.raises(ValueError, match=msg):
        call(model, x, c, g)


def test_bad_sample_inputs_and_files_raise(sine_model, tmp_path):
    c, g = sine_conditions(4, seed=1)
    with pytest.raises(ValueError, match="context has last dimension 3"):
        sine_model.sample(np.zeros((4, 3)), g)
    with pytest.raises(ValueError, match="batch size"):
        sine_model.sample(c, g[:3])
    with pytest.raises(ValueError, match="NaN"):
        sine_model.sample(c, g * np.nan)
    with pytest.raises(ValueError, match=r"steps=9 exceeds the model's diffusion_steps \(5\)"):
        sine_model.sample(c, g, sampling=SamplingConfig(steps=9))
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        DiffusionWorldModel.load(tmp_path / "nothing")

    sine_model.save(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match="corrupt"):
        DiffusionWorldModel.load(tmp_path / "m")

    sine_model.save(tmp_path / "v")
    meta_path = tmp_path / "v" / "config.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(meta | {"version": "9.0.0"}))
    with pytest.raises(ValueError, match=r"saved with diffusion_wm 9\.0\.0"):
        DiffusionWorldModel.load(tmp_path / "v")
    meta_path.write_text(json.dumps(meta | {"version": "0.1.0"}))  # horizon, sampling fields
    with pytest.raises(
        ValueError, match=r"diffusion_wm 0\.1\.0, installed " + re.escape(__version__)
    ):
        DiffusionWorldModel.load(tmp_path / "v")
    meta_path.write_text(json.dumps(meta | {"config": meta["config"] | {"dim": 8}}))
    with pytest.raises(ValueError, match="does not match its config"):
        DiffusionWorldModel.load(tmp_path / "v")
    meta_path.write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        DiffusionWorldModel.load(tmp_path / "v")


def test_corrupt_checkpoint_raises(tmp_path):
    x, c, g = sine_data(40)
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00garbage" * 20)
    model = DiffusionWorldModel(
        WorldModelConfig(x_dim=2, length=L, context_dim=2, guide_dim=1, dim=8, dim_mults=(1,))
    )
    with pytest.raises(ValueError, match="corrupt or not a diffusion_wm checkpoint"):
        model.fit(x, c, g, steps=2, checkpoint_dir=tmp_path, progress=False)
    model.fit(x, c, g, steps=2, checkpoint_dir=tmp_path, resume=False, progress=False)
    assert (tmp_path / "checkpoint.pt").stat().st_size > 1000  # replaced by a real one
