"""Run by test_dwm_ddp under torchrun: fit a tiny model and dump each rank's result."""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from diffusion_wm import DiffusionWorldModel, WorldModelConfig
from dwm_toys import L, sine_data

DDP_CONFIG = dict(x_dim=2, length=L, context_dim=2, guide_dim=1, dim=8, dim_mults=(1, 2))
DDP_FIT = dict(batch_size=16, lr=1e-3, log_every=4, progress=False)


def train(steps: int = 12) -> DiffusionWorldModel:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, c, g = sine_data(200)
    model = DiffusionWorldModel(WorldModelConfig(**DDP_CONFIG), "cpu")  # gloo: the CPU path
    model.fit(x, c, g, **(DDP_FIT | {"steps": steps}))
    return model


if __name__ == "__main__":
    out = Path(sys.argv[1])
    model = train()
    rank = torch.distributed.get_rank()
    flat = torch.cat([p.detach().flatten() for p in model.net.parameters()]).numpy()
    np.save(out / f"params{rank}.npy", flat)
    (out / f"history{rank}.json").write_text(json.dumps(model.history.to_dict()))
    torch.distributed.destroy_process_group()
