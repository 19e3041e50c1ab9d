"""Reading a D4RL hdf5 file (e.g. `hopper-medium-replay-v2.hdf5`) with h5py.

D4RL's layout: flat arrays `observations`, `actions`, `rewards`, `next_observations`,
`terminals`, `timeouts` (v2 MuJoCo files); episodes end at a terminal or a timeout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dawm_pipeline.data.dataset import DatasetInfo, OfflineDataset
from dawm_pipeline.data.validate import DatasetError, check_arrays, episode_lengths
from dawm_pipeline.tasks import Task

KEYS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")


def load_d4rl_hdf5(path: Path, name: Task) -> OfflineDataset:
    """Load and validate a D4RL-format hdf5 file for the task `name`."""
    import h5py

    path = Path(path).expanduser()
    fix = f"pass the D4RL v2 file for {name.name} (e.g. {name.name}-v2.hdf5) with --dataset-path"
    if not path.is_file():
        raise FileNotFoundError(f"D4RL file {path} not found; {fix}")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in KEYS if k not in f]
            if missing:
                hint = (
                    " (an old D4RL v0/v1 layout without next_observations)"
                    if missing == ["next_observations"]
                    else ""
                )
                raise DatasetError(f"D4RL file {path} lacks {', '.join(missing)}{hint}; {fix}")
            arrays = {k: np.asarray(f[k][()]) for k in KEYS}
    except OSError as e:
        raise DatasetError(
            f"D4RL file {path} is not a readable hdf5 file (truncated?): {e}; {fix}"
        ) from e
    rewards = arrays["rewards"]
    if rewards.ndim == 2 and rewards.shape[1] == 1:  # some writers store (N, 1)
        arrays["rewards"] = rewards[:, 0]
    check_arrays(arrays, name, f"D4RL file {path}", fix)
    lengths, timeouts = episode_lengths(arrays["terminals"], arrays["timeouts"])
    arrays["terminals"] = arrays["terminals"].astype(bool)
    arrays["timeouts"] = timeouts
    lo, hi = name.robot.score_refs
    info = DatasetInfo(
        name=name.name,
        source="d4rl",
        dataset_id=str(path),
        env_id=name.gym_id,
        action_low=-np.ones(arrays["actions"].shape[1], dtype=np.float32),
        action_high=np.ones(arrays["actions"].shape[1], dtype=np.float32),
        ref_min_score=lo,
        ref_max_score=hi,
    )
    cast = {
        k: v.astype(bool if k in ("terminals", "timeouts") else np.float32, copy=False)
        for k, v in arrays.items()
    }
    return OfflineDataset(**cast, episode_lengths=lengths, info=info)
