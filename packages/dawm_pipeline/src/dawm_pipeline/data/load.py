"""`load_dataset`: resolve a D4RL-style name to a dataset from one of three sources.

Order for source="auto": the D4RL hdf5 file at `path` when one is given (an explicit choice
wins over an automatic one) → local Minari `mujoco/<env>/<level>-v0` → this project's bundled
`dawm/<env>/<level>-v0`. A `-stochastic` name exists only as bundled data (neither D4RL nor
Minari has it). The log names the source used and why.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dawm_pipeline.data import bundled, minari_io
from dawm_pipeline.data.d4rl_hdf5 import load_d4rl_hdf5
from dawm_pipeline.data.dataset import SOURCES, OfflineDataset
from dawm_pipeline.data.minari_io import MINARI_NAMESPACE
from dawm_pipeline.tasks import resolve

log = logging.getLogger(__name__)


def source_choice(
    name: str, source: str = "auto", path: str | Path | None = None
) -> tuple[str, str]:
    """(source `load_dataset` reads, why), without loading any data."""
    parsed = resolve(name)
    if source not in ("auto", *SOURCES):
        raise ValueError(f"unknown source {source!r}: use auto, {', '.join(SOURCES)}")
    if parsed.stochastic and source not in ("auto", "bundled"):
        raise ValueError(
            f"{parsed} is this project's own data collected with stochastic dynamics: "
            f"only source 'bundled' (or 'auto') has it, not {source!r}"
        )
    if source != "auto":
        if source == "d4rl" and path is None:
            raise ValueError("source='d4rl' needs the hdf5 file: pass path= (--dataset-path)")
        return source, "chosen explicitly (--dataset-source)"
    if parsed.stochastic:
        return "bundled", "stochastic data exists only as this project's bundled files"
    if path is not None:
        return "d4rl", "a file was given (--dataset-path)"
    if minari_io.has_local(parsed.minari_id(MINARI_NAMESPACE)):
        return "minari", "found in local Minari storage"
    return "bundled", "no --dataset-path and no local Minari copy"


def resolve_source(name: str, source: str = "auto", path: str | Path | None = None) -> str:
    """Which source `load_dataset` would read (no data is loaded)."""
    return source_choice(name, source, path)[0]


def load_dataset(name: str, source: str = "auto", path: str | Path | None = None) -> OfflineDataset:
    """Load `name` (e.g. "hopper-medium-replay", "-v2" accepted) as an `OfflineDataset`.

    source: "auto" (the order above), or force "minari", "d4rl" (needs `path`, an hdf5
    file) or "bundled" (`path`, if given, is a bundle folder in place of the shipped one).
    """
    parsed = resolve(name)
    chosen, why = source_choice(name, source, path)
    if chosen == "minari":
        ds = minari_io.load_minari(parsed.minari_id(MINARI_NAMESPACE), parsed, source="minari")
    elif chosen == "d4rl":
        ds = load_d4rl_hdf5(Path(path), parsed)  # type: ignore[arg-type]
    else:
        ds = bundled.load_bundled(parsed, Path(path) if path is not None else bundled.BUNDLE_DIR)
    log.info(
        "dataset %s from %s [%s] (%s): %d transitions, %d episodes",
        ds.name,
        ds.info.source_label,
        ds.info.dataset_id,
        why,
        ds.num_transitions,
        ds.num_episodes,
    )
    return ds
