"""JSON writes and input checks shared by the model, its checkpoints and its exporter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._atomic import atomic_write


def atomic_write_json(path: Path, obj: dict[str, Any]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)

    atomic_write(path, write)


def as_float_array(name: str, value: Any, ndim: int, last_dim: int | None = None) -> np.ndarray:
    """Numpy float32 view of `value` (array or tensor), with a one-line error on bad input."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if last_dim is not None and arr.shape[-1] != last_dim:
        raise ValueError(
            f"{name} has last dimension {arr.shape[-1]} but the model was configured with "
            f"{last_dim}; fix the array or the config"
        )
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise ValueError(f"{name} contains {bad} NaN/inf values; clean the data first")
    return arr


def check_vector(name: str, value: Any, dim: int) -> np.ndarray | None:
    """A (B, dim) conditioning array, or None when the model has no such input (dim 0)."""
    if dim == 0:
        if value is not None and np.asarray(value).size:
            raise ValueError(f"the model was configured without a {name} ({name}_dim=0)")
        return None
    if value is None:
        raise ValueError(f"the model needs a {name} of dim {dim}; pass {name}=")
    return as_float_array(name, value, 2, dim)
