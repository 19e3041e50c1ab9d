"""Offline datasets for DAWM: D4RL-style names from Minari, D4RL hdf5 files, or the
datasets this project makes itself (`python -m dawm_pipeline.datasets`).

    from dawm_pipeline.data import load_dataset, normalized_score
    ds = load_dataset("hopper-medium-replay")      # source named in ds.info.source_label
    for ep in ds.episodes(): ...                   # per-episode views
    normalized_score("hopper", returns)            # D4RL's 0-100 scale
    load_dataset("hopper-medium-stochastic")       # collected in dawm/StochasticHopper-v5

Importing this package registers the stochastic envs with Gymnasium (data/stochastic.py).
"""

from dawm_pipeline.data.dataset import DatasetInfo, Episode, OfflineDataset
from dawm_pipeline.data.load import load_dataset, resolve_source
from dawm_pipeline.data.names import (
    ENVS,
    GYM_ENV_IDS,
    LEVELS,
    REF_SCORES,
    normalized_score,
    parse_name,
)
from dawm_pipeline.data.stochastic import STOCHASTIC, stochastic_env_id
from dawm_pipeline.data.validate import DatasetError

__all__ = [
    "ENVS",
    "GYM_ENV_IDS",
    "LEVELS",
    "REF_SCORES",
    "STOCHASTIC",
    "DatasetError",
    "DatasetInfo",
    "Episode",
    "OfflineDataset",
    "load_dataset",
    "normalized_score",
    "parse_name",
    "resolve_source",
    "stochastic_env_id",
]
