"""Offline datasets for DAWM: D4RL-style names from Minari, D4RL hdf5 files, or the
datasets this project makes itself (`python -m dawm_pipeline.datasets`).

    from dawm_pipeline.data import load_dataset, normalized_score
    ds = load_dataset("hopper-medium-replay")      # source named in ds.info.source_label
    for ep in ds.episodes(): ...                   # per-episode views
    normalized_score("hopper", returns)            # D4RL's 0-100 scale
    load_dataset("hopper-medium-stochastic")       # collected in dawm/StochasticHopper-v5

Names resolve through the task registry (`dawm_pipeline.tasks`), which also registers the
stochastic envs with Gymnasium.
"""

from dawm_pipeline.data.dataset import DatasetInfo, Episode, OfflineDataset
from dawm_pipeline.data.load import load_dataset, resolve_source, source_choice
from dawm_pipeline.data.validate import DatasetError
from dawm_pipeline.tasks import normalized_score

__all__ = [
    "DatasetError",
    "DatasetInfo",
    "Episode",
    "OfflineDataset",
    "load_dataset",
    "normalized_score",
    "resolve_source",
    "source_choice",
]
