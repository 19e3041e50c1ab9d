"""Reading and writing Minari datasets in local storage, never downloading.

Local storage is `$MINARI_DATASETS_PATH`, or Minari's own default (~/.minari/datasets).
Writes go to a temporary root beside the final one and are moved into place, so an
interrupted write never leaves a half-made dataset behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dawm_pipeline.data.dataset import DatasetInfo, Episode, OfflineDataset
from dawm_pipeline.data.validate import DatasetError, check_arrays
from dawm_pipeline.tasks import Task

MINARI_NAMESPACE = "mujoco"  # Farama's Minari port of the D4RL MuJoCo datasets
BUNDLED_NAMESPACE = "dawm"  # this project's recipe


def storage_root() -> Path:
    """The local Minari storage root (respects MINARI_DATASETS_PATH)."""
    env = os.environ.get("MINARI_DATASETS_PATH")
    return Path(env) if env else Path.home() / ".minari" / "datasets"


def dataset_dir(dataset_id: str) -> Path:
    return storage_root() / dataset_id


def has_local(dataset_id: str) -> bool:
    """Whether `dataset_id` is in local storage (Minari's own test: a `data` folder)."""
    return (dataset_dir(dataset_id) / "data").is_dir()


def load_minari(dataset_id: str, name: Task, source: str) -> OfflineDataset:
    """Load a local Minari dataset into an `OfflineDataset`."""
    import minari

    fix = f"delete {dataset_dir(dataset_id)} and recreate it"
    if not has_local(dataset_id):
        raise FileNotFoundError(
            f"Minari dataset {dataset_id} not found in local storage {storage_root()}: "
            "set MINARI_DATASETS_PATH to the folder that holds it"
        )
    try:
        mds = minari.load_dataset(dataset_id)
        episodes = [_episode(ep) for ep in mds.iterate_episodes()]
    except (OSError, KeyError) as e:
        raise DatasetError(f"Minari dataset {dataset_id} is unreadable ({e}); {fix}") from e
    if not episodes:
        raise DatasetError(f"Minari dataset {dataset_id} has no episodes; {fix}")
    meta = mds.storage.metadata
    arrays = {k: np.concatenate([getattr(e, k) for e in episodes]) for k in _FIELDS}
    check_arrays(arrays, name, f"Minari dataset {dataset_id}", fix)
    lo, hi = name.robot.score_refs
    space = mds.action_space
    info = DatasetInfo(
        name=name.name,
        source=source,
        dataset_id=dataset_id,
        env_id=name.gym_id,
        action_low=np.asarray(space.low, dtype=np.float32),
        action_high=np.asarray(space.high, dtype=np.float32),
        ref_min_score=float(meta.get("ref_min_score", lo) or lo),
        ref_max_score=float(meta.get("ref_max_score", hi) or hi),
        extra=_extra(meta),
    )
    return OfflineDataset.from_episodes(episodes, info)


def _extra(meta: dict) -> dict[str, object]:
    extra: dict[str, object] = {k: meta[k] for k in ("description", "algorithm_name") if k in meta}
    if "dawm_metadata" in meta:
        extra["dawm"] = json.loads(meta["dawm_metadata"])
    return extra


_FIELDS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")


def _episode(ep) -> Episode:
    obs = np.asarray(ep.observations)
    if obs.ndim != 2 or obs.shape[0] != len(ep.rewards) + 1:
        raise DatasetError(
            f"Minari episode {ep.id}: observations of shape {obs.shape} for {len(ep.rewards)} "
            "steps (expected one more row than steps, flat Box observations)"
        )
    term = np.asarray(ep.terminations, dtype=bool)
    return Episode(
        observations=obs[:-1].astype(np.float32),
        actions=np.asarray(ep.actions, dtype=np.float32),
        rewards=np.asarray(ep.rewards, dtype=np.float32),
        next_observations=obs[1:].astype(np.float32),
        terminals=term,
        timeouts=np.asarray(ep.truncations, dtype=bool) & ~term,
    )


def episode_observations(ep: Episode) -> np.ndarray:
    """Minari's per-episode observations: T + 1 rows, the final next-observation appended."""
    return np.concatenate([ep.observations, ep.next_observations[-1:]])


@contextlib.contextmanager
def _storage_at(root: Path) -> Iterator[None]:
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if old is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def write_minari(
    dataset: OfflineDataset, dataset_id: str, description: str, metadata: dict[str, object]
) -> Path:
    """Store `dataset` as Minari dataset `dataset_id` (hdf5) in local storage; returns its folder."""
    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer

    buffers = [
        EpisodeBuffer(
            id=i,
            observations=episode_observations(ep),
            actions=ep.actions,
            rewards=ep.rewards,
            terminations=ep.terminals,
            truncations=ep.timeouts,
        )
        for i, ep in enumerate(dataset.episodes())
    ]
    final = dataset_dir(dataset_id)
    if final.exists():
        raise FileExistsError(f"Minari dataset {dataset_id} already exists at {final}")
    obs_dim, act_dim = dataset.obs_dim, dataset.act_dim
    root = storage_root()
    root.mkdir(parents=True, exist_ok=True)
    tmp_root = Path(tempfile.mkdtemp(prefix=".dawm-tmp-", dir=root))
    try:
        with _storage_at(tmp_root), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # env_spec=None etc.
            mds = minari.create_dataset_from_buffers(
                dataset_id,
                buffers,
                env=None,
                eval_env=dataset.env_id,
                observation_space=gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float64),
                action_space=gym.spaces.Box(
                    dataset.info.action_low, dataset.info.action_high, (act_dim,), np.float32
                ),
                algorithm_name="SAC (stable-baselines3), D4RL protocol",
                author="dawm project",
                author_email="none",
                code_permalink="dawm_pipeline.datasets",
                description=description,
                data_format="hdf5",
            )
            # Reference scores are set afterwards: passing them at creation makes Minari
            # roll out the environment (REFERENCES.md).
            mds.storage.update_metadata(
                {
                    "ref_min_score": dataset.info.ref_min_score,
                    "ref_max_score": dataset.info.ref_max_score,
                    "dawm_metadata": json.dumps(metadata, sort_keys=True),
                }
            )
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_root / dataset_id, final)
        ns = dataset_id.split("/")[0]
        ns_meta = tmp_root / ns / "namespace_metadata.json"
        if ns_meta.is_file() and not (root / ns / ns_meta.name).exists():
            os.replace(ns_meta, root / ns / ns_meta.name)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return final
