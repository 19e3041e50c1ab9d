"""save/load: safetensors weights + a JSON config, written atomically, loaded without pickle."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from inverse_dynamics._atomic import atomic_write
from inverse_dynamics.config import IDMConfig
from inverse_dynamics.model import InverseDynamicsModel

WEIGHTS_FILE = "idm.safetensors"
CONFIG_FILE = "idm_config.json"
FORMAT = "dawm-inverse-dynamics"


def save(model: InverseDynamicsModel, directory: str | os.PathLike) -> Path:
    """Save weights, normalization statistics and config to `directory`."""
    from inverse_dynamics import __version__

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(out / WEIGHTS_FILE, lambda p: save_file(tensors, p))
    meta = {"format": FORMAT, "version": __version__, "config": model.config.to_dict()}
    atomic_write(out / CONFIG_FILE, lambda p: Path(p).write_text(json.dumps(meta, indent=2)))
    return out


def load(directory: str | os.PathLike, device: str = "cpu") -> InverseDynamicsModel:
    """Load a model saved by `save`; a missing, corrupt or mismatched file raises ValueError."""
    src = Path(directory)
    config_path, weights_path = src / CONFIG_FILE, src / WEIGHTS_FILE
    for p in (config_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"no IDM checkpoint at {src}: {p.name} is missing; train one with fit/save"
            )
    try:
        meta = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"corrupt IDM config {config_path}: {e}; re-save the model") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{config_path} is not an inverse_dynamics checkpoint config")
    if not isinstance(meta.get("config"), dict):
        raise ValueError(f"{config_path} has no config object; re-save the model")
    from inverse_dynamics import __version__

    if meta.get("version") != __version__:
        warnings.warn(
            f"IDM checkpoint {src} was saved by inverse_dynamics {meta.get('version')}, "
            f"loading with {__version__}",
            stacklevel=2,
        )
    try:
        config = IDMConfig.from_dict(meta["config"])
    except ValueError as e:
        raise ValueError(f"invalid IDM config in {config_path}: {e}; fix or re-save it") from e
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"corrupt IDM weights {weights_path}: {e}; re-save the model") from e
    model = InverseDynamicsModel(config)
    expected = model.state_dict()
    missing, unexpected = set(expected) - set(tensors), set(tensors) - set(expected)
    wrong = [k for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"IDM weights in {weights_path} do not match its config (missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}, wrong shape {wrong}); the files are from different models"
        )
    model.load_state_dict(tensors)
    return model.to(device).eval()
