"""How faithful is the world model after N training steps? Held-out metrics as JSON lines.

Trains the pipeline's world model (a preset's U-Net; --dim, --lr, --action-tokens override)
on 90% of each dataset's episodes and, every --every steps, samples from real held-out
(s_t, a_t, R_tg) windows with the pipeline's generation settings and scores them:

* against the simulator, at step 0 (dawm_pipeline.fidelity): ``velocity_r2`` (with its
  random-action floor), ``action_sensitivity`` (1 = follows a_t as physics does),
  ``reward_r2`` (with its floor), ``reward_change_r2`` (≤ 0 for a model that ignores a_t);
* against the real continuation: ``state_r2_j`` (R² of the generated s_{t+j}, j = 1, 3, H).

One line per (env, checkpoint), with the training and validation loss; resumes from its
checkpoints under --work when rerun with the same arguments. --device, --precision,
--cuda-graph and --seed compare training modes (issue #16: bf16 + CUDA graph against float32
eager, with the seed-to-seed spread beside it).

    .venv/bin/python benchmarks/wm_quality.py --envs hopper-medium-replay \
        walker2d-medium-replay halfcheetah-medium-replay --steps 4000 --every 1000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from dawm_pipeline import native
from dawm_pipeline.config import preset
from dawm_pipeline.data import load_dataset
from dawm_pipeline.fidelity import step_zero_fidelity
from dawm_pipeline.sequences import (
    sequence_length,
)
from dawm_pipeline.simcheck import SimScale
from dawm_pipeline.stages.train_wm import model_config, windows
from diffusion_wm import DiffusionWorldModel

HELD_OUT_WINDOWS = 1000


def r2(pred: np.ndarray, target: np.ndarray, var: np.ndarray) -> float:
    return round(float((1 - ((pred - target) ** 2).mean(0) / np.maximum(var, 1e-8)).mean()), 4)


def measure(cfg, args, env: str) -> None:
    cfg.env = env
    data = load_dataset(env)
    episodes = np.random.default_rng(0).permutation(data.num_episodes)
    held_out = np.sort(episodes[: len(episodes) // 10])
    train, test = data.select(np.sort(episodes[len(episodes) // 10 :])), data.select(held_out)
    x, context, guide = windows(cfg, train)
    held = windows(cfg, test)
    pick = np.random.default_rng(1).permutation(len(held[0]))[:HELD_OUT_WINDOWS]
    xt, ct, gt = (a[pick] for a in held)
    d, a, h = data.obs_dim, data.act_dim, cfg.horizon
    layout = cfg.token_layout(d, a)
    scale = SimScale.of(train.observations, train.next_observations)
    torch.manual_seed(args.seed)
    model = DiffusionWorldModel(model_config(cfg, d, a), args.device)
    kernel = native.use_train_kernel(model, cfg.train_kernel, args.device)
    tag = f"dim{cfg.wm.dim}-lr{cfg.wm.lr:g}-b{cfg.wm.batch_size}-tok{int(layout.actions)}"
    if (args.precision, args.cuda_graph, args.seed) != ("float32", False, 0):  # old caches stay
        tag += f"-{args.precision}-graph{int(args.cuda_graph)}-seed{args.seed}"
    work = f"{args.work}/{env}-{tag}"
    noise = torch.randn((len(xt), sequence_length(h), layout.x_dim), generator=torch.Generator())

    def sample(states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return model.sample(
            np.concatenate([states, actions], axis=1),
            gt,
            sampling=cfg.sampling(),
            noise=noise.numpy(),
            inpaint=layout.inpaint(states, actions, sequence_length(h)),
        )

    def step_zero(states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = sample(states, actions)
        return s[:, 1, :d], s[:, 1, layout.reward_col]

    for steps in range(args.every, args.steps + 1, args.every):
        t0 = time.perf_counter()
        hist = model.fit(x, context, guide, steps=steps, batch_size=cfg.wm.batch_size,
                         lr=cfg.wm.lr, checkpoint_dir=work, checkpoint_every=args.every,
                         progress=False, eval_every=args.every, log_every=args.every,
                         seed=args.seed, device=args.device, precision=args.precision,
                         cuda_graph=args.cuda_graph)  # fmt: skip
        seconds = time.perf_counter() - t0
        s = sample(ct[:, :d], ct[:, d:])
        row = {"env": env, "steps": steps, "lr": cfg.wm.lr, "dim": cfg.wm.dim,
               "action_tokens": layout.actions, "train_seconds": round(seconds, 1),
               "device": args.device, "precision": args.precision,
               "cuda_graph": args.cuda_graph, "seed": args.seed, "norm_mish_kernel": kernel,
               "loss": round(hist.loss[-1], 5), "val_loss": round(hist.val_loss[-1], 5),
               "steps_per_s": round(hist.steps_per_second, 1)}  # fmt: skip
        fid = step_zero_fidelity(cfg.task, step_zero, ct[:, :d], ct[:, d:], scale,
                                 float(train.rewards.var()))  # fmt: skip
        row |= {k: round(float(v), 4) for k, v in fid.items()}
        for j in (1, 3, h):
            row[f"state_r2_{j}"] = r2(s[:, j, :d], xt[:, j, :d], train.next_observations.var(0))
        print(json.dumps(row), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--envs", nargs="+", default=["hopper-medium-replay"])
    p.add_argument("--preset", default="quick")
    p.add_argument("--lr", type=float, default=None, help="default: the preset's")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--batch", type=int, default=None, help="default: the preset's")
    p.add_argument("--dim", type=int, default=None, help="U-Net width (default: the preset's)")
    p.add_argument("--action-tokens", action="store_true", help="a_t in every token")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", default=".cache/wm_quality", help="checkpoints (resumable)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--cuda-graph", action="store_true", help="capture the step (CUDA only)")
    p.add_argument("--seed", type=int, default=0, help="initial weights and batch draws")
    args = p.parse_args()
    if args.cuda_graph and not args.device.startswith("cuda"):
        p.error(f"--cuda-graph captures CUDA graphs: it needs --device cuda, not {args.device}")
    torch.set_num_threads(args.threads)
    for env in args.envs:
        cfg = preset(args.preset)
        cfg.wm.steps = args.steps
        cfg.wm.action_tokens = args.action_tokens
        for name in ("lr", "dim"):
            if getattr(args, name) is not None:
                setattr(cfg.wm, name, getattr(args, name))
        if args.batch is not None:
            cfg.wm.batch_size = args.batch
        measure(cfg, args, env)


if __name__ == "__main__":
    main()
