"""Every field of UNetConfig, WorldModelConfig and SamplingConfig, and every numeric argument
of fit, is checked before any work, with one-line errors naming class, field and range.

The walk enumerates dataclasses.fields (and fit_model's signature), so a new field fails here
until it has both a declared range in the class's VALID table and a row in TABLE below.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing

import numpy as np
import pytest
from config_field_walk import INF, NAN, assert_one_line_naming, bad_cases, good_cases
from diffusion_wm import DiffusionWorldModel, SamplingConfig, UNetConfig, WorldModelConfig
from diffusion_wm.training import FIT_VALID, fit_model
from dwm_toys import L, sine_data

SHAPE = {"x_dim": 2, "length": L}  # L = 8
REQUIRED: dict[type, dict] = {UNetConfig: SHAPE, WorldModelConfig: SHAPE, SamplingConfig: {}}
UNET_ROWS: dict[str, tuple[list, list]] = {
    "x_dim": ([0, -1], [1]),
    "length": ([0, -1], [1]),
    "context_dim": ([-1], [0]),  # 0: no context
    "guide_dim": ([-1], [0]),  # 0: no guide
    "dim": ([0, 4, 12, -8], [8]),  # GroupNorm(8): a multiple of 8
    "dim_mults": ([(0,), (1, -2)], [(1,), [1, 3]]),
    "prediction": (["v", "eps"], ["epsilon"]),
}
# Per field: (bad values beyond the generic ones for its type, valid edge values).
TABLE: dict[type, dict[str, tuple[list, list]]] = {
    UNetConfig: UNET_ROWS,
    WorldModelConfig: {
        **UNET_ROWS,
        "diffusion_steps": ([0, -5], [1]),
        "p_uncond": ([-0.1, 1.0], [0.0, 0.99]),
        "ema_decay": ([0.0, 1.0, 1.5], [0.5]),
        "ema_every": ([0], [1]),
        "ema_start": ([-1], [0]),
        "inpaint_tokens": ([-1, L, L + 1], [0, L - 1]),
        "loss_weights": ([(1.0,), (1.0, -1.0), (1.0, 2.0, 3.0)], [None, (0.0, 2.0)]),
    },
    SamplingConfig: {
        "steps": ([0, -1], [1]),
        "guidance": ([], [0.0, -1.0, 1e3]),  # any finite ω; 1 is unguided
        "clip": ([0.0, -1.0], [1e-6, 1e6]),
        "eta": ([-0.1], [0.0, 1.0]),
    },
}
CONFIGS = list(TABLE)


@pytest.mark.parametrize("cls", CONFIGS)
def test_every_field_has_a_declared_range_and_a_table_row(cls):
    names = [f.name for f in dataclasses.fields(cls)]
    assert sorted(cls.VALID) == sorted(names), "declare the new field's range in VALID"
    assert sorted(TABLE[cls]) == sorted(names), "add the new field's bad values to TABLE"


@pytest.mark.parametrize("cls", CONFIGS)
def test_defaults_construct(cls):
    cfg = cls(**REQUIRED[cls])
    for f in dataclasses.fields(cls):
        assert type(getattr(cfg, f.name)) in (int, float, bool, str, tuple, type(None))


@pytest.mark.parametrize("cls, name, value", bad_cases(TABLE, b"x0"))
def test_bad_field_value_raises_one_line_naming_the_field(cls, name, value):
    with pytest.raises(ValueError) as err:
        cls(**{**REQUIRED[cls], name: value})
    assert_one_line_naming(err, cls.__name__, name)


@pytest.mark.parametrize("cls, name, value", good_cases(TABLE))
def test_valid_edge_values_are_accepted(cls, name, value):
    got = getattr(cls(**{**REQUIRED[cls], name: value}), name)
    assert got == (tuple(value) if isinstance(value, list) else value)


def test_numpy_scalars_and_lists_are_normalized_so_the_config_saves_as_json():
    cfg = WorldModelConfig(x_dim=np.int64(2), length=8, p_uncond=np.float32(0.5), dim_mults=[1])
    assert (cfg.x_dim, cfg.p_uncond, cfg.dim_mults) == (2, 0.5, (1,))
    assert (type(cfg.x_dim), type(cfg.p_uncond)) == (int, float)
    assert WorldModelConfig.from_dict(cfg.to_dict()) == cfg


def _fit_scalar_args() -> list[str]:
    hints = typing.get_type_hints(fit_model)
    params = inspect.signature(fit_model).parameters
    return [p for p in params if hints[p] in (int, float, bool, str)]


FIT_BAD = {
    "steps": [-1, 2.5, "10", NAN],
    "batch_size": [0, 1.5, True],
    "lr": [0.0, -1e-4, NAN, INF, "1e-4"],
    "val_fraction": [-0.1, 1.0, NAN],
    "eval_every": [0, -1],
    "log_every": [0, 2.0],
    "checkpoint_every": [0, None],
    "resume": [1, "yes"],
    "seed": [-1, 1.5, True],
    "progress": [0, None],
    "precision": ["float16", 32],
    "cuda_graph": [1, "yes"],
}


def test_every_numeric_fit_argument_is_declared_and_walked():
    assert sorted(FIT_VALID) == sorted(_fit_scalar_args()) == sorted(FIT_BAD)


@pytest.mark.parametrize("name, value", [(n, v) for n, vs in FIT_BAD.items() for v in vs], ids=repr)
def test_bad_fit_argument_raises_before_any_work(name, value, tmp_path):
    x, c, g = sine_data(20)
    cfg = WorldModelConfig(x_dim=2, length=L, context_dim=2, guide_dim=1, dim=8, dim_mults=(1,))
    model = DiffusionWorldModel(cfg, "cpu")
    kwargs = {"steps": 2, "checkpoint_dir": tmp_path, "progress": False, name: value}
    with pytest.raises(ValueError) as err:
        model.fit(x, c, g, **kwargs)
    assert_one_line_naming(err, "fit", name)
    assert model.normalizer is None and not list(tmp_path.iterdir())  # nothing ran or was written
