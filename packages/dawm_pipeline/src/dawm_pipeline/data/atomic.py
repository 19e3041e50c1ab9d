"""Atomic file writes: a temp file in the target's folder, then `os.replace`.

An interrupted run leaves either the old file or the new one, never a torn file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path next to `path`; on success it replaces `path` (os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    # mkstemp makes 0600, which would make shipped/shared files private.
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _atomic(path: Path, write: Callable[[Path], None], suffix: str = "") -> None:
    with atomic_path(path, suffix=f".tmp{suffix}") as tmp:
        write(tmp)


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
