"""Input validation for the engine: everything the C++ reads is checked here first."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_array(value: Any, name: str) -> np.ndarray:
    """A NumPy view of an ndarray, a CPU DLPack tensor (e.g. torch) or a nested sequence."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__dlpack__"):
        try:
            return np.from_dlpack(value)
        except (BufferError, RuntimeError, TypeError, ValueError) as err:
            raise ValueError(
                f"{name} could not be read through DLPack ({err}); pass a CPU array or tensor"
            ) from err
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} is not array-like: {err}") from err


def float_array(value: Any, name: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """A C-contiguous, finite float32 array of `shape` (None = any size), else ValueError."""
    arr = as_array(value, name)
    want = "(" + ", ".join("B" if s is None else str(s) for s in shape) + ")"
    if arr.dtype != np.float32:
        raise ValueError(
            f"{name} must be float32, got {arr.dtype}; convert with .astype(np.float32)"
        )
    if arr.ndim != len(shape) or any(
        s is not None and a != s for a, s in zip(arr.shape, shape, strict=True)
    ):
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; pass np.ascontiguousarray({name})")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def seed_value(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return int(seed)


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
