"""Every field of every agent config, and every numeric train() argument, is checked up front.

The walk enumerates dataclasses.fields (and train()'s signature), so a new field fails here
until it has both a declared range in the class's VALID table and a row in TABLE below.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path

import numpy as np
import pytest
from config_field_walk import INF, NAN, assert_one_line_naming, bad_cases, good_cases
from offline_agents import IQL, TD3BC, IQLConfig, ReplayBuffer, TD3BCConfig
from offline_agents.agent import TRAIN_VALID, OfflineAgent

# Per field: (bad values beyond the generic ones for its type, valid edge values).
TABLE: dict[type, dict[str, tuple[list, list]]] = {
    TD3BCConfig: {
        "alpha": ([-0.1], [0.0]),
        "discount": ([-0.01, 1.01], [0.0, 1.0]),
        "tau": ([0.0, -0.1, 1.5], [1.0]),
        "policy_noise": ([-0.2], [0.0]),
        "noise_clip": ([-0.5], [0.0]),
        "policy_freq": ([0, -1], [1]),
        "actor_lr": ([0.0, -1e-3], [1e-6]),
        "critic_lr": ([0.0, -1e-3], [1e-6]),
        "batch_size": ([0, -8], [1]),
        "hidden": ([(0,), (64, -1)], [(1,), [3, 4]]),
        "matmul_dtype": (["float16", ""], ["bfloat16"]),
        "normalize_states": ([], [False]),
        "normalize_eps": ([-1e-3], [0.0]),
        "seed": ([-1], [0, 2**40]),
    },
    IQLConfig: {
        "expectile": ([0.0, 1.0, 1.5], [0.5]),
        "beta": ([-1.0], [0.0]),
        "max_weight": ([0.0, -1.0], [1e-3]),
        "discount": ([-0.01, 1.01], [0.0, 1.0]),
        "tau": ([0.0, 1.5], [1.0]),
        "actor_lr": ([0.0, -3e-4], [1e-6]),
        "q_lr": ([0.0, -3e-4], [1e-6]),
        "value_lr": ([0.0, -3e-4], [1e-6]),
        "batch_size": ([0], [1]),
        "hidden": ([(0,)], [(1, 1, 1)]),
        "deterministic_actor": ([], [True]),
        "log_std_min": ([2.0, 5.0], [-100.0]),  # must stay below log_std_max (2.0)
        "log_std_max": ([-20.0, -30.0], [100.0]),  # must stay above log_std_min (-20.0)
        "cosine_lr_steps": ([0, -5], [1, None]),
        "reward_scale": ([0.0, -1.0], [1e-3]),
        "matmul_dtype": (["float64"], ["float32"]),
        "normalize_states": ([], [False]),
        "normalize_eps": ([-1.0], [0.0]),
        "seed": ([-1], [0]),
    },
}
CONFIGS = list(TABLE)


@pytest.mark.parametrize("cls", CONFIGS)
def test_every_field_has_a_declared_range_and_a_table_row(cls):
    names = [f.name for f in dataclasses.fields(cls)]
    assert sorted(cls.VALID) == sorted(names), "declare the new field's range in VALID"
    assert sorted(TABLE[cls]) == sorted(names), "add the new field's bad values to TABLE"


@pytest.mark.parametrize("cls", CONFIGS)
def test_defaults_construct_and_are_json_plain(cls):
    cfg = cls()
    for f in dataclasses.fields(cls):
        assert type(getattr(cfg, f.name)) in (int, float, bool, str, tuple, type(None))


@pytest.mark.parametrize("cls, name, value", bad_cases(TABLE, b"float32"))
def test_bad_field_value_raises_one_line_naming_the_field(cls, name, value):
    with pytest.raises(ValueError) as err:
        cls(**{name: value})
    assert_one_line_naming(err, cls.__name__, name)


@pytest.mark.parametrize("cls, name, value", good_cases(TABLE))
def test_valid_edge_values_are_accepted(cls, name, value):
    got = getattr(cls(**{name: value}), name)
    assert got == (tuple(value) if isinstance(value, list) else value)


def test_numpy_scalars_and_lists_are_normalized_to_plain_values():
    cfg = IQLConfig(seed=np.int64(3), beta=np.float32(2.0), hidden=[np.int32(8)])
    assert (cfg.seed, cfg.beta, cfg.hidden) == (3, 2.0, (8,))
    assert (type(cfg.seed), type(cfg.beta), type(cfg.hidden[0])) == (int, float, int)


def test_error_reads_as_documented():
    with pytest.raises(ValueError) as err:
        TD3BCConfig(actor_lr=-0.001)
    assert str(err.value) == "TD3BCConfig.actor_lr must be a finite number > 0, got -0.001"


@pytest.mark.parametrize("agent_cls", [TD3BC, IQL])
@pytest.mark.parametrize("name, value", [("obs_dim", 0), ("act_dim", -1), ("obs_dim", "2")])
def test_agent_dims_are_checked(agent_cls, name, value):
    dims = {"obs_dim": 1, "act_dim": 1, name: value}
    with pytest.raises(ValueError) as err:
        agent_cls(dims["obs_dim"], dims["act_dim"])
    assert_one_line_naming(err, agent_cls.__name__, name)


def _train_numeric_args() -> list[str]:
    hints = typing.get_type_hints(OfflineAgent.train)
    params = inspect.signature(OfflineAgent.train).parameters
    return [p for p in params if hints.get(p) in (int, float, bool)]


TRAIN_BAD = {
    "steps": [-1, 2.5, "10", NAN, True],
    "eval_every": [0, -5, 1.5, INF],
    "log_every": [0, "100"],
    "checkpoint_every": [0, None],
    "resume": [1, "no"],
    "progress": [0, None],
    "cuda_graph": [1, "yes"],
}


def test_every_numeric_train_argument_is_declared_and_walked():
    assert sorted(TRAIN_VALID) == sorted(_train_numeric_args()) == sorted(TRAIN_BAD)


@pytest.mark.parametrize(
    "name, value", [(n, v) for n, vs in TRAIN_BAD.items() for v in vs], ids=repr
)
def test_bad_train_argument_raises_before_any_step(name, value, point_mass_data, tmp_path):
    agent = TD3BC(1, 1, 1.0, TD3BCConfig(hidden=(8,), batch_size=8))
    kwargs = {"steps": 3, "checkpoint_dir": tmp_path, "progress": False, name: value}
    with pytest.raises(ValueError) as err:
        agent.train(ReplayBuffer(point_mass_data[0]), **kwargs)
    assert_one_line_naming(err, "TD3BC.train", name)
    assert agent.step == 0 and not list(Path(tmp_path).iterdir())  # nothing ran or was written


def test_fields_helper_copies_are_identical():
    """Each library carries the same _fields.py (they install alone); keep them in step."""
    packages = Path(__file__).resolve().parents[2] / "packages"
    copies = {
        p: (packages / p / "src" / p / "_fields.py").read_text()
        for p in ("diffusion_wm", "inverse_dynamics", "offline_agents")
    }
    assert len(set(copies.values())) == 1, f"edit all of {sorted(copies)} together"
