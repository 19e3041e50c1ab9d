"""Atomic file writes and their readers: the pipeline's one way to put a file on disk.

Every writer goes through a temp file in the target's folder, then `os.replace`, so an
interrupted run leaves either the old file or the new one, never a torn file. Readers never
unpickle (`allow_pickle=False`, safetensors, JSON).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
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


def jsonable(obj: Any) -> Any:
    """`json.dumps` default: numpy scalars and arrays, paths."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-able: {type(obj).__name__}")


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path, obj: Any) -> None:
    """Write `obj` as indented JSON with sorted keys (numpy values allowed)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=jsonable) + "\n")


def write_npz(path: Path, arrays: dict[str, np.ndarray], compressed: bool = False) -> None:
    """Write arrays to an .npz (the temp name keeps the .npz suffix numpy insists on)."""
    save = np.savez_compressed if compressed else np.savez
    with atomic_path(path, suffix=".tmp.npz") as tmp:
        save(tmp, **arrays)


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write numpy arrays to a .safetensors file with string metadata."""
    from safetensors.numpy import save_file

    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp), metadata=metadata)


def save_figure(fig, path: Path) -> str:
    """Save a matplotlib figure as PNG and close it; returns the file name (for reports)."""
    import matplotlib.pyplot as plt

    with atomic_path(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path).name


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
