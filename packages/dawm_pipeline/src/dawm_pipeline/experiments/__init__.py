"""The paper's experiments on top of the pipeline: `python -m dawm_pipeline.experiments <name>`.

Each experiment expands into cells (task x algorithm x seed x variant); a cell runs the
pipeline's stages, sharing the world model, IDM and generated data between every cell that
reads the same ones, and appends one JSON line to the results file when it finishes. A rerun
skips finished cells; `report` rewrites docs/results.md from the results file alone.
"""

from dawm_pipeline.experiments.plan import EXPERIMENTS, SCALES, Cell, plan
from dawm_pipeline.experiments.results import ResultStore
from dawm_pipeline.experiments.runner import run_experiment

__all__ = ["EXPERIMENTS", "SCALES", "Cell", "ResultStore", "plan", "run_experiment"]
