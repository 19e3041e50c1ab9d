"""The libraries' deliberate copies of _atomic.py (see its docstring) stay identical."""

from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parents[1] / "packages"


def test_atomic_write_copies_are_identical():
    copies = {p: (PACKAGES / p / "src" / p / "_atomic.py").read_text() for p in
              ("diffusion_wm", "inverse_dynamics", "offline_agents")}  # fmt: skip
    assert len(set(copies.values())) == 1, f"edit all of {sorted(copies)} together"


def test_atomic_write_replaces_whole_file_with_umask_permissions(tmp_path):
    import os
    import stat

    from offline_agents._atomic import atomic_write

    target = tmp_path / "weights.bin"
    target.write_text("old")
    old_umask = os.umask(0o022)
    os.umask(old_umask)

    def fail(tmp: str) -> None:
        Path(tmp).write_text("torn")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError, match="crash"):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.bin"]  # no temp file left
    atomic_write(target, lambda tmp: Path(tmp).write_text("new"))
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~old_umask
