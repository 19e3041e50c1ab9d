"""Atomic file writes: a temp file in the target's folder, then `os.replace`.

An interrupted run leaves either the old file or the new one, never a torn file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _atomic(path: Path, write: Callable[[Path], None], suffix: str = "") -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would make shipped/shared files private
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    """Write `obj` as indented JSON."""
    _atomic(path, lambda p: p.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"))


def write_npz(path: Path, arrays: dict[str, np.ndarray], compressed: bool = False) -> None:
    """Write arrays to an .npz (the temp name keeps the .npz suffix numpy insists on)."""
    save = np.savez_compressed if compressed else np.savez
    _atomic(path, lambda p: save(p, **arrays), suffix=".npz")


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write numpy arrays to a .safetensors file with string metadata."""
    from safetensors.numpy import save_file

    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    _atomic(path, lambda p: save_file(arrays, str(p), metadata=metadata))
