"""This project's own datasets: shipped files, regeneration, and the local Minari cache.

The package ships, per environment, `bundled/<env>/`:
  manifest.json                 how the data was made (training budget, evaluated returns,
                                which checkpoint is "medium" / "expert", regeneration sizes
                                and seeds, fingerprints)
  policy_medium.safetensors     the medium behaviour policy
  policy_expert.safetensors     the best policy within the training budget ("expert")
  medium_replay.npz             the replay buffer up to the medium checkpoint (compressed)
`medium` and `medium-expert` are regenerated from the policies on first use (seeded);
every level is then stored in local Minari storage as `dawm/<env>/<level>-v0`, so
`minari.load_dataset("dawm/hopper/medium-replay-v0")` works too. None of this is D4RL data.
The `-stochastic` variants of medium and medium-expert are regenerated the same way (same
policies, same seeds) in the stochastic env (data/stochastic.py) and cached as
`dawm/<env>/<level>-stochastic-v0`; the manifest has no fingerprints for them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import zipfile
from pathlib import Path

import numpy as np

from dawm_pipeline import atomic
from dawm_pipeline.data import minari_io
from dawm_pipeline.data.dataset import DatasetInfo, Episode, OfflineDataset
from dawm_pipeline.data.minari_io import BUNDLED_NAMESPACE
from dawm_pipeline.data.policy import GaussianPolicy
from dawm_pipeline.data.rollout import collect
from dawm_pipeline.data.validate import DatasetError, check_arrays
from dawm_pipeline.tasks import STOCHASTIC, Task

log = logging.getLogger(__name__)

BUNDLE_DIR = Path(__file__).resolve().parent.parent / "bundled"
DESCRIPTION = (
    "dawm's own {name} dataset: made by the dawm project's recipe (SAC behaviour policies "
    "trained on Gymnasium {env_id}, D4RL's medium / medium-replay / medium-expert protocol). "
    "Not D4RL data."
)
STOCHASTIC_NOTE = " Collected with {label}: Gymnasium {env_id} wraps the task's v5 env."


def read_manifest(env: str, bundle_dir: Path = BUNDLE_DIR) -> dict:
    """The manifest of one environment's bundled data; a clear error when absent."""
    path = Path(bundle_dir) / env / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no bundled dawm data for {env} in {Path(bundle_dir)}: build it with "
            f"`python -m dawm_pipeline.datasets train --env {env}` then "
            f"`python -m dawm_pipeline.datasets build --env {env}`"
        )
    return json.loads(path.read_text())


def bundle_hash(folder: Path, manifest: dict) -> str:
    """sha256 of the shipped files and the regeneration settings: identifies a data version."""
    h = hashlib.sha256(json.dumps(manifest["regenerate"], sort_keys=True).encode())
    for key in sorted(manifest["files"]):
        h.update((Path(folder) / manifest["files"][key]).read_bytes())
    return h.hexdigest()


def save_episodes_npz(path: Path, dataset: OfflineDataset) -> None:
    """Compressed episodes: observations with each episode's final observation appended
    (num_transitions + num_episodes rows, Minari's layout) instead of next_observations."""
    obs = np.concatenate([minari_io.episode_observations(ep) for ep in dataset.episodes()])
    arrays = {
        "observations": obs,
        "actions": dataset.actions,
        "rewards": dataset.rewards,
        "terminals": dataset.terminals,
        "timeouts": dataset.timeouts,
        "episode_lengths": dataset.episode_lengths,
    }
    atomic.write_npz(path, arrays, compressed=True)


def load_episodes_npz(path: Path, name: Task, info: DatasetInfo) -> OfflineDataset:
    """Read `save_episodes_npz`'s format, validated."""
    fix = f"reinstall dawm-pipeline or rebuild with `python -m dawm_pipeline.datasets build --env {name.robot.name}`"
    if not Path(path).is_file():
        raise FileNotFoundError(f"bundled file {path} not found; {fix}")
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise DatasetError(f"bundled file {path} is unreadable (truncated?): {e}; {fix}") from e
    lengths = a.get("episode_lengths")
    obs = a.get("observations")
    if (
        lengths is None
        or obs is None
        or obs.ndim != 2
        or obs.shape[0] != lengths.sum() + len(lengths)
    ):
        raise DatasetError(f"bundled file {path}: observations do not match episode_lengths; {fix}")
    ends = np.cumsum(lengths + 1)
    starts = ends - lengths - 1
    keep_obs = np.ones(obs.shape[0], bool)
    keep_obs[ends - 1] = False
    keep_next = np.ones(obs.shape[0], bool)
    keep_next[starts] = False
    arrays = {
        "observations": obs[keep_obs],
        "next_observations": obs[keep_next],
        **{k: a[k] for k in ("actions", "rewards", "terminals", "timeouts") if k in a},
    }
    check_arrays(arrays, name, f"bundled file {path}", fix)
    return OfflineDataset(**arrays, episode_lengths=lengths.astype(np.int64), info=info)


def dataset_info(name: Task, recipe: dict | None = None) -> DatasetInfo:
    """Metadata of a bundled dataset (D4RL's reference scores, Gymnasium v5 env)."""
    lo, hi = name.robot.score_refs
    act_dim = name.robot.act_dim
    return DatasetInfo(
        name=name.name,
        source="bundled",
        dataset_id=name.minari_id(BUNDLED_NAMESPACE),
        env_id=name.gym_id,
        action_low=-np.ones(act_dim, dtype=np.float32),
        action_high=np.ones(act_dim, dtype=np.float32),
        ref_min_score=lo,
        ref_max_score=hi,
        extra={"recipe": recipe or {}, **_dynamics(name)},
    )


def _dynamics(name: Task) -> dict[str, str]:
    """The `dynamics` entry of a stochastic dataset's info (it shows in its source label)."""
    return {"dynamics": STOCHASTIC.label} if name.stochastic else {}


def generate(name: Task, bundle_dir: Path = BUNDLE_DIR) -> OfflineDataset:
    """Make one level in memory from the shipped files (deterministic for the manifest's seeds)."""
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(name.robot.name, bundle_dir)
    info = dataset_info(name, manifest.get("recipe"))
    folder = bundle_dir / name.robot.name
    if name.level == "medium-replay":
        path = folder / manifest["files"]["medium-replay"]
        ds = load_episodes_npz(path, name, info)
        want = manifest.get("fingerprints", {}).get(name.name)
        if want is not None and want != ds.fingerprint:
            raise DatasetError(
                f"shipped file {path} does not match its manifest (fingerprint "
                f"{ds.fingerprint[:12]}, manifest {want[:12]}): the package's data is damaged; "
                "reinstall it (or check out the file again)"
            )
        return ds
    spec = manifest["regenerate"]
    episodes: list[Episode]
    if name.level == "medium":
        episodes = _rollouts(folder, manifest, "medium", spec["medium"], name)
    else:  # medium-expert: the medium dataset plus as many expert transitions (D4RL §5)
        medium = load_bundled(name.with_level("medium"), bundle_dir)
        episodes = list(medium.episodes())
        episodes += _rollouts(folder, manifest, "expert", spec["expert"], name)
    return OfflineDataset.from_episodes(episodes, info)


def _rollouts(folder: Path, manifest: dict, which: str, spec: dict, name: Task) -> list[Episode]:
    policy = GaussianPolicy.load(folder / manifest["files"][f"policy_{which}"])
    return collect(
        policy,
        name.gym_id,
        min_transitions=int(spec["transitions"]),
        seed=int(spec["seed"]),
        desc=f"dawm {name.robot.name}: {which} policy rollouts",
    )


def load_bundled(name: Task, bundle_dir: Path = BUNDLE_DIR) -> OfflineDataset:
    """Load `dawm/<env>/<level>-v0` from local Minari storage, creating it there first.

    A cached copy made from another version of the shipped files (or with another
    perturbation) is this package's own derived data: it is deleted with a warning naming it,
    and rebuilt from the shipped files.
    """
    dataset_id = name.minari_id(BUNDLED_NAMESPACE)
    manifest = read_manifest(name.robot.name, bundle_dir)
    if minari_io.has_local(dataset_id):
        ds = minari_io.load_minari(dataset_id, name, source="bundled")
        stale = _stale(ds, manifest)
        if stale is None:
            ds.info.extra |= {"recipe": manifest.get("recipe", {}), **_dynamics(name)}
            _warn_if_other_cpu(ds, manifest)
            return ds
        where = minari_io.dataset_dir(dataset_id)
        log.warning("dawm bundled %s: the cache %s %s; rebuilding it", name, where, stale)
        shutil.rmtree(where)
    log.info("dawm bundled %s: building %s in %s", name, dataset_id, minari_io.storage_root())
    ds = generate(name, bundle_dir)
    meta = {
        "recipe": "dawm",
        "not_d4rl": True,
        "dataset": name.name,
        "bundle_hash": manifest["bundle_hash"],
        "training": manifest.get("recipe", {}),
        "fingerprint": ds.fingerprint,
    }
    desc = DESCRIPTION.format(name=name.name, env_id=name.gym_id)
    if name.stochastic:
        meta["perturbation"] = dataclasses.asdict(STOCHASTIC)
        desc += STOCHASTIC_NOTE.format(label=STOCHASTIC.label, env_id=name.gym_id)
    try:
        minari_io.write_minari(ds, dataset_id, desc, meta)
    except OSError as e:  # read-only storage, or another process got there first
        if not minari_io.has_local(dataset_id):
            log.warning("dawm bundled %s: could not cache in Minari storage (%s)", name, e)
            return ds
    ds = minari_io.load_minari(dataset_id, name, source="bundled")
    ds.info.extra |= {"recipe": manifest.get("recipe", {}), **_dynamics(name)}
    stale = _stale(ds, manifest)
    if stale is not None:  # another process cached another version meanwhile
        where = minari_io.dataset_dir(dataset_id)
        raise DatasetError(f"Minari dataset {dataset_id} at {where} {stale}; delete it and retry")
    _warn_if_other_cpu(ds, manifest)
    return ds


def _stale(ds: OfflineDataset, manifest: dict) -> str | None:
    """Why a cached copy is not the shipped files' data (None: it is)."""
    made = ds.info.extra.get("dawm", {})
    if made.get("bundle_hash") != manifest["bundle_hash"]:
        return "was made from another version of the bundled data"
    perturbation = made.get("perturbation")
    if perturbation is not None and perturbation != dataclasses.asdict(STOCHASTIC):
        return f"was collected with another perturbation ({perturbation}, now {STOCHASTIC})"
    want = manifest.get("fingerprints", {}).get(ds.name)
    if ds.name.endswith("medium-replay") and want is not None and want != ds.fingerprint:
        # copied from the shipped file, never rolled out: any difference is another version
        return f"does not match the shipped file (fingerprint {ds.fingerprint[:12]})"
    return None


def _warn_if_other_cpu(ds: OfflineDataset, manifest: dict) -> None:
    """Same data version, different rolled-out bytes: say so (the fingerprint is recorded)."""
    want = manifest.get("fingerprints", {}).get(ds.name)
    if want is None or want == ds.fingerprint:
        return
    # Same data version, different bytes: rollouts are bit-reproducible on one machine but
    # floating-point differences between CPUs can change the trajectories.
    log.warning(
        "dawm bundled %s: fingerprint %s differs from the build machine's %s "
        "(regenerated on another CPU)",
        ds.name,
        ds.fingerprint[:12],
        want[:12],
    )
