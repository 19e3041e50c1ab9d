"""One module per pipeline stage (`train-wm` -> `train_wm.py`); each exposes
`run(ctx, out_dir) -> summary dict`. The stage list and graph are stage_graph.py's."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType


def module(stage: str) -> ModuleType:
    """A stage's module, imported on first use (its heavy imports load only when it runs)."""
    return import_module(f"dawm_pipeline.stages.{stage.replace('-', '_')}")
