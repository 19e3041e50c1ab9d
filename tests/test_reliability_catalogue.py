"""docs/reliability.md lists bad inputs and faults, each with the test that covers it: every
listed test must exist (pytest collects it), and the catalogue must not shrink below 60."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "docs" / "reliability.md"
ENTRY = re.compile(r"^\|.*\|\s*`(tests/[^`]+::[^`]+)`\s*\|\s*$")  # a row ending in its test


def catalogue_tests() -> list[str]:
    return [m.group(1) for line in CATALOGUE.read_text().splitlines() if (m := ENTRY.match(line))]


def test_every_catalogued_fault_names_a_test_that_exists():
    tests = catalogue_tests()
    assert len(tests) >= 60, f"{len(tests)} entries; the catalogue promises at least 60"
    assert len(set(tests)) == len(tests), "an entry is listed twice"
    files = sorted({t.split("::")[0] for t in tests})
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    collected = {line.strip() for line in proc.stdout.splitlines() if "::" in line}
    functions = {c.split("[")[0] for c in collected}  # an entry may name all of a test's cases
    missing = [t for t in tests if t not in collected and t not in functions]
    assert not missing, f"catalogued tests that pytest does not collect: {missing}"
