"""Stage `data`: resolve and load the dataset, take the DAWM-T fraction, split IDM hold-out.

Writes `real.npz` (the episodes every later stage uses, with the IDM hold-out mask) and
`info.json` (where they came from), so downstream stages never depend on the source and
get the same `OfflineDataset` type the loaders return.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dawm_pipeline.atomic import read_json, read_npz, write_json, write_npz
from dawm_pipeline.data.dataset import ARRAY_FIELDS, DatasetInfo, OfflineDataset

REAL = "real.npz"
INFO = "info.json"


def run(ctx, out: Path) -> dict[str, Any]:
    from dawm_pipeline.data import load_dataset

    cfg = ctx.cfg
    full = load_dataset(cfg.env, source=cfg.dataset_source, path=cfg.dataset_path)
    n_ep = full.num_episodes
    keep = max(1, int(np.ceil(cfg.data_scale * n_ep)))
    chosen = np.sort(np.random.default_rng(0).permutation(n_ep)[:keep])
    data = full.select(chosen)
    n_hold = round(cfg.idm.holdout_fraction * keep) if keep >= 2 else 0
    holdout = np.zeros(keep, bool)
    holdout[np.random.default_rng(1).permutation(keep)[:n_hold]] = True
    arrays = {k: getattr(data, k) for k in (*ARRAY_FIELDS, "episode_lengths")}
    write_npz(out / REAL, {**arrays, "idm_holdout": holdout})
    info = {**vars(full.info), "extra": {}}  # extra (recipe, dynamics) stays in the summary
    info["action_low"] = np.asarray(info["action_low"], float).tolist()
    info["action_high"] = np.asarray(info["action_high"], float).tolist()
    write_json(out / INFO, info)
    return {
        "dataset": {
            **full.summary(),
            **{k: info[k] for k in ("action_low", "action_high")},
            "ref_min_score": float(info["ref_min_score"]),
            "ref_max_score": float(info["ref_max_score"]),
            "obs_dim": data.obs_dim,
            "act_dim": data.act_dim,
        },
        "data_scale": cfg.data_scale,
        # The shipped files' version: a later package with other bundled data must not find
        # this stage (and the stages keyed on it) done (`outdated`).
        "bundle_hash": full.info.extra.get("dawm", {}).get("bundle_hash"),
        "used_episodes": keep,
        "used_transitions": len(data),
        "idm_holdout_episodes": n_hold,
    }


def outdated(ctx, record: dict[str, Any]) -> str | None:
    """Why a finished data stage no longer holds the data its settings name (None: it does,
    or it cannot tell: stages from before the bundle version was recorded, other sources)."""
    from dawm_pipeline.data import bundled

    made = record["summary"].get("bundle_hash")
    if made is None:
        return None
    cfg = ctx.cfg
    folder = bundled.BUNDLE_DIR
    if cfg.dataset_source == "bundled" and cfg.dataset_path is not None:
        folder = Path(cfg.dataset_path)
    try:
        now = bundled.read_manifest(cfg.task.robot.name, folder)["bundle_hash"]
    except FileNotFoundError:
        return None
    if now == made:
        return None
    return (
        f"was made from another version of the bundled {cfg.task.robot.name} data (bundle "
        f"{made[:12]}, shipped now {now[:12]}), and the stages after it were trained on that "
        "data: use a fresh --out (or delete this task's stages folder) to rebuild them"
    )


def load_info(ctx) -> DatasetInfo:
    """Where the stage's data came from: evaluation env, action bounds, score references."""
    info = read_json(ctx.dir("data") / INFO)
    for key in ("action_low", "action_high"):
        info[key] = np.asarray(info[key], np.float32)
    return DatasetInfo(**info)


def load(ctx) -> tuple[OfflineDataset, np.ndarray]:
    """The stage's episodes (as an OfflineDataset) and the per-episode IDM hold-out mask."""
    arrays = read_npz(ctx.dir("data") / REAL)
    holdout = arrays.pop("idm_holdout")
    return OfflineDataset(**arrays, info=load_info(ctx)), holdout
