"""One module per pipeline stage; each exposes `run(ctx, out_dir) -> summary dict`."""

from __future__ import annotations

from importlib import import_module

_NAMES = {
    "data": "data",
    "train-wm": "train_wm",
    "train-idm": "train_idm",
    "generate": "generate",
    "train-agent": "train_agent",
    "evaluate": "evaluate",
    "report": "report",
}


class _Modules(dict):
    """Imports a stage module on first use (a stage's heavy imports load only when it runs)."""

    def __missing__(self, name: str):
        module = import_module(f"dawm_pipeline.stages.{_NAMES[name]}")
        self[name] = module
        return module


MODULES = _Modules()
