"""The libraries' deliberate copies of _atomic.py (see its docstring) stay identical."""

from pathlib import Path

PACKAGES = Path(__file__).resolve().parents[1] / "packages"


def test_atomic_write_copies_are_identical():
    copies = {p: (PACKAGES / p / "src" / p / "_atomic.py").read_text() for p in
              ("diffusion_wm", "inverse_dynamics", "offline_agents")}  # fmt: skip
    assert len(set(copies.values())) == 1, f"edit all of {sorted(copies)} together"
