"""DiffusionWorldModel.load: every damaged or foreign file gives one line naming it and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from diffusion_wm import DiffusionWorldModel, WorldModelConfig
from dwm_toys import L, sine_data
from safetensors.torch import load_file, save_file


@pytest.fixture
def saved(tmp_path) -> Path:
    x, c, g = sine_data(20)
    cfg = WorldModelConfig(x_dim=2, length=L, context_dim=2, guide_dim=1, dim=8, dim_mults=(1,))
    model = DiffusionWorldModel(cfg, "cpu")
    model.fit(x, c, g, steps=0, progress=False)  # fits the normalizer only
    return model.save(tmp_path / "m")


def _edit(directory: Path, **changes) -> None:
    path = directory / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def _edit_config(directory: Path, **changes) -> None:
    meta = json.loads((directory / "config.json").read_text())
    _edit(directory, config=meta["config"] | changes)


def _drop_meta_key(directory: Path, key: str) -> None:
    path = directory / "config.json"
    meta = json.loads(path.read_text())
    del meta[key]
    path.write_text(json.dumps(meta))


def _drop_tensor(directory: Path, key: str) -> None:
    tensors = load_file(directory / "model.safetensors")
    del tensors[key]
    save_file(tensors, directory / "model.safetensors")


# (id, damage done to a saved model's directory, file named in the error, words in the error)
FAULTS = [
    ("config-missing", lambda d: (d / "config.json").unlink(), "config.json", "not found"),
    ("weights-missing", lambda d: (d / "model.safetensors").unlink(), "model.safetensors", "not found"),
    ("config-not-json", lambda d: (d / "config.json").write_text("{oops"), "config.json", "is corrupt"),
    ("config-not-utf8", lambda d: (d / "config.json").write_bytes(b"\xff\xfe"), "config.json", "is corrupt"),
    ("config-foreign-format", lambda d: _edit(d, format="other"), "config.json", "has format 'other', expected 'diffusion_wm/1'"),
    ("config-object-missing", lambda d: _drop_meta_key(d, "config"), "config.json", "invalid config or history"),
    ("config-unknown-field", lambda d: _edit_config(d, horizon=8), "config.json", "unknown WorldModelConfig fields ['horizon']"),
    ("config-bad-value", lambda d: _edit_config(d, dim=12), "config.json", "WorldModelConfig.dim must be a multiple of 8"),
    ("config-bad-type", lambda d: _edit_config(d, p_uncond="0.25"), "config.json", "WorldModelConfig.p_uncond must be"),
    ("history-junk", lambda d: _edit(d, history={"loss": [1.0], "epochs": 3}), "config.json", "invalid config or history"),
    ("weights-truncated", lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:200]), "model.safetensors", "is corrupt"),
    ("weights-garbage", lambda d: (d / "model.safetensors").write_bytes(b"\xff" * 64), "model.safetensors", "is corrupt"),
    ("weights-other-shape", lambda d: _edit_config(d, dim=16), "model.safetensors", "does not match its config"),
    ("normalizer-missing", lambda d: _drop_tensor(d, "normalizer.x_lo"), "model.safetensors", "lacks normalizer array"),
]  # fmt: skip


@pytest.mark.parametrize(
    "damage, named, words", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS]
)
def test_damaged_model_directory_raises_one_line_naming_the_file(saved, damage, named, words):
    damage(saved)
    error = FileNotFoundError if words == "not found" else ValueError
    with pytest.raises(error) as err:
        DiffusionWorldModel.load(saved)
    msg = str(err.value)
    assert str(saved / named) in msg and words in msg and "\n" not in msg, msg


def test_a_clean_directory_still_loads(saved):
    model = DiffusionWorldModel.load(saved, "cpu")
    assert model.config.dim == 8 and model.normalizer is not None and model.history is not None
