"""Every field of IDMConfig and FitConfig is checked at construction, with one-line errors.

The walk enumerates dataclasses.fields, so a new field fails here until it has both a
declared range in the class's VALID table and a row in TABLE below.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from config_field_walk import assert_one_line_naming, bad_cases, good_cases
from inverse_dynamics import FitConfig, IDMConfig

REQUIRED: dict[type, dict[str, int]] = {IDMConfig: {"obs_dim": 3, "act_dim": 2}, FitConfig: {}}
# Per field: (bad values beyond the generic ones for its type, valid edge values).
TABLE: dict[type, dict[str, tuple[list, list]]] = {
    IDMConfig: {
        "obs_dim": ([0, -1], [1]),
        "act_dim": ([0, -1], [1]),
        "history": ([-1], [0]),  # 0: the (s_t, s_t+1) IDM of Decision Diffuser
        "hidden_sizes": ([(0,), (64, -1)], [(1,), [3, 4]]),
        "activation": (["swish3", "RELU"], ["tanh"]),
        "min_log_std": ([2.0, 3.0], [-100.0]),  # must stay below max_log_std (2.0)
        "max_log_std": ([-5.0, -6.0], [100.0]),  # must stay above min_log_std (-5.0)
    },
    FitConfig: {
        "batch_size": ([0, -1], [1]),
        "lr": ([0.0, -1e-3], [1e-9]),
        "weight_decay": ([-1e-4], [0.0]),
        "next_state_noise": ([-0.1, float("nan")], [0.0, 0.2]),
        "max_epochs": ([0], [1]),
        "val_fraction": ([0.0, 1.0, -0.1], [0.5]),
        "patience": ([0], [1]),
        "seed": ([-1], [0, 2**40]),
        "device": ([], ["cuda:1"]),  # any string: torch.device judges it when fit runs
        "progress": ([], [False]),
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
        assert type(getattr(cfg, f.name)) in (int, float, bool, str, tuple)


@pytest.mark.parametrize("cls, name, value", bad_cases(TABLE, b"relu"))
def test_bad_field_value_raises_one_line_naming_the_field(cls, name, value):
    with pytest.raises(ValueError) as err:
        cls(**{**REQUIRED[cls], name: value})
    assert_one_line_naming(err, cls.__name__, name)


@pytest.mark.parametrize("cls, name, value", good_cases(TABLE))
def test_valid_edge_values_are_accepted(cls, name, value):
    got = getattr(cls(**{**REQUIRED[cls], name: value}), name)
    assert got == (tuple(value) if isinstance(value, list) else value)


def test_numpy_scalars_and_lists_are_normalized_to_plain_values():
    cfg = IDMConfig(obs_dim=np.int64(3), act_dim=1, hidden_sizes=[np.int32(8)])
    assert (cfg.obs_dim, cfg.hidden_sizes) == (3, (8,))
    assert type(cfg.obs_dim) is int and type(cfg.hidden_sizes[0]) is int
    assert IDMConfig.from_dict(cfg.to_dict()) == cfg
