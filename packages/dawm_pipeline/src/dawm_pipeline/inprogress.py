"""Reading a stage's in-progress files (checkpoints, chunks, partial curves) for a resume.

Such a file may be torn by a crash of the disk or the machine, or damaged by hand. An
unreadable one is renamed `<name>.unreadable-<time>` (moved aside, never deleted: it may be
the only copy of hours of work someone wants to inspect), a one-line warning names it, and the
caller restarts the work the file held. No traceback reaches the user for a file the pipeline
itself wrote.
"""

from __future__ import annotations

import pickle
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

UNREADABLE_ERRORS = (
    OSError,
    EOFError,
    ValueError,  # json, numpy and our own loaders' one-line errors
    KeyError,  # a file of the right format missing a field
    RuntimeError,  # torch.load on a torn zip
    zipfile.BadZipFile,
    pickle.UnpicklingError,  # torch.load(weights_only=True) refusing foreign content
)


def aside_path(path: Path, why: str) -> Path:
    """A free sibling name `<name>.<why>-<time>` to move `path` to."""
    aside = path.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%dT%H%M%S')}")
    n = 1
    while aside.exists():
        aside, n = path.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%dT%H%M%S')}-{n}"), n + 1
    return aside


def set_aside(path: Path, reason: str) -> Path:
    """Rename `path` out of the way with a warning naming it; returns the new path."""
    aside = aside_path(path, "unreadable")
    path.rename(aside)
    warnings.warn(
        f"{path} is unreadable ({reason}); moved aside to {aside.name}, its work restarts",
        stacklevel=3,
    )
    return aside


def read_or_set_aside(path: Path, reader: Callable[[Path], T]) -> T | None:
    """`reader(path)`, or None when the file is missing, or unreadable (then moved aside)."""
    if not path.is_file():
        return None
    try:
        return reader(path)
    except UNREADABLE_ERRORS as e:
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        set_aside(path, reason)
        return None
