"""inverse_dynamics.load: every damaged or foreign file gives one line naming it and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inverse_dynamics import IDMConfig, InverseDynamicsModel, load, save


@pytest.fixture
def saved(tmp_path) -> Path:
    return save(InverseDynamicsModel(IDMConfig(obs_dim=2, act_dim=1, hidden_sizes=(8,))), tmp_path)


def _edit(directory: Path, **changes) -> None:
    path = directory / "idm_config.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps(meta | changes))


def _edit_config(directory: Path, **changes) -> None:
    meta = json.loads((directory / "idm_config.json").read_text())
    _edit(directory, config=meta["config"] | changes)


def _drop_from_config(directory: Path, key: str) -> None:
    meta = json.loads((directory / "idm_config.json").read_text())
    del meta["config"][key]
    _edit(directory, config=meta["config"])


# (id, damage done to a saved model's directory, file named in the error, words in the error)
FAULTS = [
    ("config-missing", lambda d: (d / "idm_config.json").unlink(), "", "idm_config.json is missing"),
    ("weights-missing", lambda d: (d / "idm.safetensors").unlink(), "", "idm.safetensors is missing"),
    ("config-not-json", lambda d: (d / "idm_config.json").write_text("{oops"), "idm_config.json", "corrupt IDM config"),
    ("config-not-utf8", lambda d: (d / "idm_config.json").write_bytes(b"\xff\xfe"), "idm_config.json", "corrupt IDM config"),
    ("config-foreign-format", lambda d: _edit(d, format="other"), "idm_config.json", "not an inverse_dynamics"),
    ("config-object-missing", lambda d: _edit(d, config=[1]), "idm_config.json", "no config object"),
    ("config-unknown-field", lambda d: _edit_config(d, depth=3), "idm_config.json", "unknown fields ['depth']"),
    ("config-required-field-missing", lambda d: _drop_from_config(d, "obs_dim"), "idm_config.json", "required fields ['obs_dim']"),
    ("config-bad-value", lambda d: _edit_config(d, hidden_sizes=[0]), "idm_config.json", "IDMConfig.hidden_sizes must be"),
    ("config-bad-type", lambda d: _edit_config(d, history="1"), "idm_config.json", "IDMConfig.history must be"),
    ("weights-truncated", lambda d: (d / "idm.safetensors").write_bytes((d / "idm.safetensors").read_bytes()[:50]), "idm.safetensors", "corrupt IDM weights"),
    ("weights-garbage", lambda d: (d / "idm.safetensors").write_bytes(b"\xff" * 64), "idm.safetensors", "corrupt IDM weights"),
    ("weights-other-shape", lambda d: _edit_config(d, hidden_sizes=[16]), "idm.safetensors", "do not match its config"),
]  # fmt: skip


@pytest.mark.parametrize(
    "damage, named, words", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS]
)
def test_damaged_model_directory_raises_one_line_naming_the_file(saved, damage, named, words):
    damage(saved)
    error = FileNotFoundError if words.endswith("is missing") else ValueError
    with pytest.raises(error) as err:
        load(saved)
    msg = str(err.value)
    assert str(saved / named) in msg and words in msg and "\n" not in msg, msg


def test_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value) and "train one" in str(err.value)
