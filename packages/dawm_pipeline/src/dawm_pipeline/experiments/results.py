"""The results file: one JSON line per finished cell, appended atomically.

An append rewrites the whole file through a temp file and os.replace, so an interrupt leaves
either the old file or the new one, never a half-written line; a lock file next to it keeps
two sweeps writing the same results file from losing each other's rows (the lock lives in
the temp directory, named after the file's absolute path, so it never lands in the repo).
`add` (the Ray launcher's driver) also skips a row whose key is already there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from dawm_pipeline.atomic import write_text


class ResultStore:
    """Rows of finished cells, keyed by (experiment, cell key)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = []
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(
                    f"{self.path} line {number} is not JSON ({e.msg}); fix or delete that line "
                    "and rerun (the cell will be recomputed)"
                ) from None
        return rows

    def keys(self) -> set[tuple[str, str]]:
        return {(row["experiment"], row["key"]) for row in self.rows()}

    def _lock_path(self) -> Path:
        digest = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"dawm-results-{digest}.lock"

    def append(self, row: dict[str, Any]) -> None:
        self._append(row, unique=False)

    def add(self, row: dict[str, Any]) -> bool:
        """Append unless a row of the same (experiment, key) is there (checked under the
        lock, so two drivers finishing the same cell write it once); True when appended."""
        return self._append(row, unique=True)

    def _append(self, row: dict[str, Any], unique: bool) -> bool:
        line = json.dumps(row, sort_keys=True, default=_plain, allow_nan=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path(), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if unique and (row["experiment"], row["key"]) in self.keys():
                return False
            text = self.path.read_text() if self.path.exists() else ""
            if text and not text.endswith("\n"):
                text += "\n"
            write_text(self.path, text + line + "\n")
        return True


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic | np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-able: {type(obj).__name__}")
