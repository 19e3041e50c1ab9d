"""How good is the world model after N training steps? Held-out accuracy as JSON lines.

Trains the pipeline's world model (its quick preset's U-Net, or --dim) on 90% of a dataset's
episodes and, every --every steps, samples rollouts from real held-out (s_t, a_t, R_tg)
windows with the pipeline's generation settings (DDIM k = 3, guidance 1.2, token 0 inpainted)
and scores them against the real continuation:

* ``state_r2_j``: R² of the generated s_{t+j} against the real one (j = 1, 3, H), per
  dimension against the training data's next-state variance, then averaged;
* ``reward_r2_j``: the same for the reward stored with it, r_{t+j-1};
* ``delta_r2_1``: R² of the first state change s_{t+1} - s_t (strict: states barely move in
  one step, so this stays low long after ``state_r2_1`` looks good).

Used to size the quick preset's world-model budget (config.py `_quick`). Resumes from its
checkpoints under --work when rerun with the same arguments.

    .venv/bin/python benchmarks/wm_quality.py --lr 1e-3 --steps 4000 --every 1000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from dawm_pipeline.config import preset
from dawm_pipeline.data import OfflineDataset, load_dataset
from dawm_pipeline.sequences import (
    build_conditions,
    build_x,
    inpaint_mask,
    returns_to_go,
    sequence_length,
    window_starts,
)
from dawm_pipeline.stages.train_wm import model_config
from diffusion_wm import DiffusionWorldModel

HELD_OUT_WINDOWS = 2000


def windows(cfg, data: OfflineDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rtg = returns_to_go(data.rewards, data.bounds, cfg.gamma)
    starts = window_starts(data.bounds, cfg.horizon)
    return build_x(data, starts, cfg.horizon), *build_conditions(data, starts, rtg, cfg.rtg_scale)


def r2(pred: np.ndarray, target: np.ndarray, var: np.ndarray) -> float:
    return round(float((1 - ((pred - target) ** 2).mean(0) / np.maximum(var, 1e-8)).mean()), 4)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="hopper-medium-replay")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--dim", type=int, default=None, help="U-Net width (default: quick preset)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", default=".cache/wm_quality", help="checkpoints (resumable)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = preset("quick")
    cfg.env = args.env
    if args.dim is not None:
        cfg.wm.dim = args.dim
    data = load_dataset(args.env)
    episodes = np.random.default_rng(0).permutation(len(data.bounds))
    held_out = np.sort(episodes[: len(episodes) // 10])
    train, test = data.select(np.sort(episodes[len(episodes) // 10 :])), data.select(held_out)
    x, context, guide = windows(cfg, train)
    held = windows(cfg, test)
    pick = np.random.default_rng(1).permutation(len(held[0]))[:HELD_OUT_WINDOWS]
    xt, ct, gt = (a[pick] for a in held)
    d, h = data.obs_dim, cfg.horizon
    state_var = train.next_observations.var(0)
    delta_var = (train.next_observations - train.observations).var(0)
    reward_var = train.rewards.var(keepdims=True)
    torch.manual_seed(0)
    model = DiffusionWorldModel(model_config(cfg, d, data.act_dim), "cpu")
    work = f"{args.work}/{args.env}-dim{cfg.wm.dim}-lr{args.lr:g}-b{args.batch}"
    for steps in range(args.every, args.steps + 1, args.every):
        t0 = time.perf_counter()
        model.fit(x, context, guide, steps=steps, batch_size=args.batch, lr=args.lr,
                  checkpoint_dir=work, checkpoint_every=args.every, progress=False,
                  eval_every=args.every, log_every=args.every)  # fmt: skip
        seconds = time.perf_counter() - t0
        gen = torch.Generator().manual_seed(0)
        s = model.sample(ct, gt, sampling=cfg.sampling(), generator=gen,
                         inpaint=(inpaint_mask(sequence_length(h), d), xt))  # fmt: skip
        row = {"env": args.env, "steps": steps, "lr": args.lr, "dim": cfg.wm.dim,
               "train_seconds": round(seconds, 1)}  # fmt: skip
        for j in (1, 3, h):
            row[f"state_r2_{j}"] = r2(s[:, j, :d], xt[:, j, :d], state_var)
            row[f"reward_r2_{j}"] = r2(s[:, j, d:], xt[:, j, d:], reward_var)
        row["delta_r2_1"] = r2(s[:, 1, :d] - xt[:, 0, :d], xt[:, 1, :d] - xt[:, 0, :d], delta_var)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
