"""Stage `data`: resolve and load the dataset, take the DAWM-T fraction, split IDM hold-out.

Writes `real.npz` (the transitions every later stage uses, with episode bounds and the IDM
hold-out mask) so downstream stages never depend on where the dataset came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dawm_pipeline.runs import read_npz, write_npz
from dawm_pipeline.sequences import Transitions, from_dataset

REAL = "real.npz"


def run(ctx, out: Path) -> dict[str, Any]:
    from dawm_pipeline.data import load_dataset

    cfg = ctx.cfg
    ds = load_dataset(cfg.env, source=cfg.dataset_source, path=cfg.dataset_path)
    full = from_dataset(ds)
    n_ep = len(full.bounds)
    keep = max(1, int(np.ceil(cfg.data_scale * n_ep)))
    chosen = np.sort(np.random.default_rng(0).permutation(n_ep)[:keep])
    data = full.select(chosen)
    n_hold = round(cfg.idm.holdout_fraction * keep) if keep >= 2 else 0
    holdout = np.zeros(keep, bool)
    holdout[np.random.default_rng(1).permutation(keep)[:n_hold]] = True
    write_npz(out / REAL, **vars(data), idm_holdout=holdout)  # load() rebuilds Transitions
    info = ds.info
    dataset = {
        **ds.summary(),
        "env_id": info.env_id,
        "action_low": np.asarray(info.action_low, float).tolist(),
        "action_high": np.asarray(info.action_high, float).tolist(),
        "ref_min_score": float(info.ref_min_score),
        "ref_max_score": float(info.ref_max_score),
        "obs_dim": data.obs_dim,
        "act_dim": data.act_dim,
    }
    return {
        "dataset": dataset,
        "data_scale": cfg.data_scale,
        "used_episodes": keep,
        "used_transitions": len(data),
        "idm_holdout_episodes": n_hold,
    }


def load(ctx) -> tuple[Transitions, np.ndarray, dict[str, Any]]:
    """The stage's transitions, per-episode IDM hold-out mask and dataset record."""
    arrays = read_npz(ctx.dir("data") / REAL)
    holdout = arrays.pop("idm_holdout")
    data = Transitions(**arrays)
    return data, holdout, ctx.done("data")["summary"]["dataset"]
