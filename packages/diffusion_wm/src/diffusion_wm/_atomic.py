"""Atomic file writes: a crash mid-write leaves the previous file, never a torn one.

Deliberately one identical copy of this file per library (diffusion_wm, inverse_dynamics,
offline_agents): each installs alone and imports no sibling (DESIGN.md), and none of their
dependencies offers this. tests/test_atomic_copies.py keeps the copies identical.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temp file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600: saved models would be private
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
