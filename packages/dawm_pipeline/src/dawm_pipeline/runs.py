"""Run directories, config hashes, stage completion markers and the run record.

Layout (pipeline.py): `<out>/<env>/stages/<stage>-<hash>/` and `<out>/<env>/<run>/`. A stage is
finished when its directory holds `done.json` (written last, atomically) whose `hash` equals
the hash of the stage's inputs: its own settings plus the hashes of the stages it reads. A
rerun with the same inputs skips the stage. A run's own folder is named by the user (`--run`)
and so can meet another config: `claim_run_dir` refuses that unless told to overwrite, and
then moves the old run aside until the new one has finished.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import json
import platform
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from dawm_pipeline.atomic import jsonable, read_json, write_json
from dawm_pipeline.inprogress import aside_path

DONE = "done.json"
RECORD = "run.json"
_PACKAGES = (
    "dawm-pipeline",
    "dawm-diffusion-wm",
    "dawm-inverse-dynamics",
    "dawm-offline-agents",
    "dawm-kernels",
    "torch",
    "numpy",
    "gymnasium",
    "mujoco",
    "minari",
    "tyro",
)


def config_hash(obj: Any) -> str:
    """Stable 16-hex hash of a JSON-able object (key order does not matter)."""
    text = json.dumps(obj, sort_keys=True, default=jsonable)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.cache
def source_revision() -> str | None:
    """The git commit this code runs from, marked when packages/, csrc/ or python/ hold
    uncommitted changes; None outside a git checkout (e.g. a wheel install).

    Package versions alone cannot tell two editable checkouts apart, and a change to a
    library mid-sweep shows up in the rows' results (agents are chaotic to 1e-6 changes).
    Read once per process: the code a process runs is the code it imported at its start,
    and every run record and result row would otherwise spawn git again.
    """
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", "-C", str(here), *args], capture_output=True,
                                  text=True, timeout=10)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "--short=12", "HEAD")
    if commit is None:
        return None
    dirty = git("status", "--porcelain", "--untracked-files=no", ":/packages", ":/csrc", ":/python")
    return f"{commit} + uncommitted changes" if dirty else commit


# Our own packages report the `__version__` of the module that runs: an editable install's
# metadata keeps the version it was installed at (dawm-inverse-dynamics read 0.1.0 while 0.2.0
# ran), and a PYTHONPATH checkout has no metadata of its own.
_MODULES = {
    "dawm-pipeline": "dawm_pipeline",
    "dawm-diffusion-wm": "diffusion_wm",
    "dawm-inverse-dynamics": "inverse_dynamics",
    "dawm-offline-agents": "offline_agents",
    "dawm-kernels": "dawm_kernels",
}


def _version(name: str) -> str | None:
    module = _MODULES.get(name)
    if module is not None:
        try:
            return str(importlib.import_module(module).__version__)
        except ImportError:
            return None
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str | None]:
    """Versions of the packages a result depends on (None: not installed), and the source
    revision when running from a git checkout."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        out[name] = _version(name)
    out["source_revision"] = source_revision()
    return out


_VERIFIED: set[tuple[str, int]] = set()  # done markers whose outputs this process checked
UNCHECKED = (DONE, "inputs.json")


def _outputs(folder: Path) -> list[Path]:
    """A stage's output files: everything but its markers and resumable checkpoints."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.name not in UNCHECKED
        and "checkpoint" not in p.relative_to(folder).parts[:-1]
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def output_checksums(folder: Path) -> dict[str, str]:
    """sha256 of every output file, by path relative to the stage folder."""
    return {str(p.relative_to(folder)): _sha256(p) for p in _outputs(folder)}


def first_bad_output(folder: Path, recorded: dict[str, str]) -> str | None:
    """A one-line description of the first recorded output that is missing or changed."""
    for name, digest in recorded.items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        if _sha256(path) != digest:
            return f"{path} does not match the checksum recorded when the stage finished"
    return None


class StageDir:
    """One stage's output directory and its completion marker."""

    def __init__(self, path: Path, inputs: dict[str, Any]):
        self.path = Path(path)
        self.inputs = inputs
        self.hash = config_hash(inputs)

    def done(self) -> dict[str, Any] | None:
        """The done record when the stage finished with these inputs and its outputs are
        intact, else None (a missing or changed output file is named in a warning, and the
        stage is then recomputed)."""
        marker = self.path / DONE
        if not marker.exists():
            return None
        try:
            record = read_json(marker)
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            warnings.warn(f"{marker} is unreadable; the stage will be recomputed", stacklevel=2)
            return None
        if record.get("hash") != self.hash:
            return None
        key = (str(marker), marker.stat().st_mtime_ns)
        if key not in _VERIFIED:
            bad = first_bad_output(self.path, record.get("outputs", {}))
            if bad is not None:
                warnings.warn(f"{bad}; the stage will be recomputed", stacklevel=2)
                return None
            _VERIFIED.add(key)
        return record

    def prepare(self) -> None:
        """Create the directory. A folder of other inputs (reachable only through a hash
        prefix collision, as runs are claimed first) is moved aside when it holds finished
        results and cleared when it holds only another config's checkpoints."""
        inputs = self.path / "inputs.json"
        if inputs.exists() and read_json(inputs).get("hash") != self.hash:
            if (self.path / DONE).exists():
                aside = aside_path(self.path, "other-config")
                self.path.rename(aside)
                warnings.warn(f"{self.path} held results of another config: moved to "
                              f"{aside.name}", stacklevel=2)  # fmt: skip
            else:
                shutil.rmtree(self.path)  # checkpoints of other inputs would not apply
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / DONE).unlink(missing_ok=True)  # a recompute is unfinished until finish()
        write_json(inputs, {"hash": self.hash, "inputs": self.inputs})

    def finish(self, summary: dict[str, Any], seconds: float) -> dict[str, Any]:
        """Write done.json last: the stage counts as finished only once this exists."""
        record = {
            "hash": self.hash,
            "seconds": round(seconds, 3),
            "finished": time.time(),
            "summary": summary,
            "outputs": output_checksums(self.path),
        }
        write_json(self.path / DONE, record)
        return record


# Settings that decide where or how fast a run computes, not what it computes.
PLACEMENT_FIELDS = (
    "out", "run", "overwrite", "threads", "device", "sampler", "train_kernel", "log"
)  # fmt: skip


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def run_differences(record: dict[str, Any], config: dict[str, Any], stages: dict[str, str]):
    """(stages whose folder differs, 'field: old -> new' lines) between a stored run record
    and a new run; both empty when the new run would compute the same results."""
    old_stages = record.get("stages") or {}
    # Folder names carry the input hashes; the paths before them depend on how --out is spelt.
    changed = [
        name
        for name, folder in stages.items()
        if Path(old_stages.get(name) or "").name != Path(folder).name
    ]
    old = _flat(record.get("config") or {})
    new = _flat(json.loads(json.dumps(config, default=jsonable)))  # as it reads back
    fields = [
        f"{key}: {old.get(key)!r} -> {new.get(key)!r}"
        for key in sorted(set(old) | set(new))
        if key not in PLACEMENT_FIELDS and old.get(key) != new.get(key)
    ]
    if not old_stages:  # a record without stage folders: the config decides alone
        changed = ["all"] if fields else []
    return changed, fields if changed else []


def claim_run_dir(
    run_dir: Path, config: dict[str, Any], stages: dict[str, str], overwrite: bool
) -> Path | None:
    """Make sure `run_dir` holds this run: a folder recording another config is refused
    (ValueError naming the stages and fields that differ) unless `overwrite`, and then moved
    aside; returns where it went, to be deleted once the new run has finished."""
    path = run_dir / RECORD
    if not path.exists():
        return None
    try:
        record = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        record = {"config": {"run.json": "unreadable"}}
    changed, fields = run_differences(record, config, stages)
    if not changed:
        return None
    if not overwrite:
        shown = "; ".join(fields[:6]) + ("; ..." if len(fields) > 6 else "")
        raise ValueError(
            f"--run {run_dir.name}: {run_dir} holds a run of another config (stages "
            f"{', '.join(changed)} differ; {shown}): choose another --run, leave --run out "
            "for a name per config, or pass --overwrite (the old run is moved aside until "
            "the new one finishes)"
        )
    aside = aside_path(run_dir, "replaced")
    run_dir.rename(aside)
    return aside


def write_run_record(
    run_dir: Path, config: dict[str, Any], dataset: dict[str, Any], stages: dict[str, str]
) -> None:
    """run.json: config, seeds, versions, dataset source + fingerprint, stage folders, command
    line."""
    write_json(
        Path(run_dir) / RECORD,
        {
            "config": config,
            "stages": stages,
            "seeds": config.get("seeds"),
            "versions": package_versions(),
            "dataset": dataset,
            "argv": sys.argv,
            "platform": platform.platform(),
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )
