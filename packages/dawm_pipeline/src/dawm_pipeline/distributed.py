"""The pipeline under torchrun: one process per rank, rank 0 the only one that writes.

`torchrun --nproc_per_node N -m dawm_pipeline data train-wm ...` starts N copies of the CLI.
diffusion_wm's fit averages the world model's gradients across them (DDP); everything else
(deciding whether a stage is done, preparing and finishing its folder, reading or setting
aside a checkpoint, the early-stopping check) happens on rank 0 and reaches the other ranks
by `from_main`, so every rank takes the same branch and no two processes write one file.
Outside torchrun (no WORLD_SIZE, or 1) every function here is the plain single-process path.
"""

from __future__ import annotations

import datetime
import gc
import os
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")

TIMEOUT = datetime.timedelta(hours=2)
"""How long a rank waits for rank 0 (e.g. while it alone builds the dataset)."""


_inside = False  # rank 0 is running a from_main's function: nested calls run it directly


def world() -> int:
    """Processes torchrun started (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init(device: str) -> bool:
    """Start the process group (gloo on CPU, NCCL on GPUs) when launched by torchrun; the
    fit in diffusion_wm then joins it instead of starting its own. True: started here."""
    if world() <= 1 or dist.is_initialized():
        return False
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    return True


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        # The DDP wrappers of finished fits first (a cycle keeps them alive): destroyed after
        # the group, their reducers made gloo abort at exit ("terminate called without an
        # active exception") in 4 of 6 runs. Then every rank meets before the teardown.
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


def from_main(fn: Callable[[], T]) -> T:
    """`fn()` computed on rank 0 and handed to every rank, exceptions included, so that an
    error on rank 0 (a missing dataset, a conflicting run folder) stops every rank alike
    instead of leaving the others waiting."""
    global _inside
    if _inside or world() <= 1 or not dist.is_initialized():
        return fn()  # single process, or already on rank 0 inside a from_main
    box: list[object] = [None]
    if is_main():
        _inside = True
        try:
            box[0] = ("ok", fn())
        except Exception as e:
            box[0] = ("error", e)
        finally:
            _inside = False
    dist.broadcast_object_list(box, src=0)
    status, value = box[0]  # type: ignore[misc]
    if status == "error":
        _raised_together.append(value)  # type: ignore[arg-type]
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]


_raised_together: list[BaseException] = []


def raised_together(error: BaseException) -> bool:
    """True for an error every rank raised at the same point (a `from_main` one): the ranks
    can still meet to shut the group down, which a rank failing alone could not."""
    return any(error is e for e in _raised_together)
