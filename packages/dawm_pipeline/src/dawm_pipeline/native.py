"""Which backend runs: the native dawm_kernels engine when it is installed, else PyTorch.

Options with the choices auto, torch and native (--sampler, --train-kernel) resolve here, so
a missing engine is refused with the same line whichever option asks for it.
"""

from __future__ import annotations

import importlib.util


def available() -> bool:
    return importlib.util.find_spec("dawm_kernels") is not None


def resolve(choice: str, option: str) -> str:
    """'auto' -> 'native' when dawm_kernels is installed, else 'torch'."""
    if choice == "auto":
        return "native" if available() else "torch"
    if choice == "native" and not available():
        raise ValueError(
            f"{option} native needs the dawm_kernels engine: install it with "
            f"`pip install .` at the repo root, or use {option} torch"
        )
    if choice not in ("torch", "native"):
        raise ValueError(f"unknown {option} {choice!r}: use auto, torch or native")
    return choice


def use_train_kernel(model, choice: str) -> str:
    """Give a DiffusionWorldModel the Mish(GroupNorm) kernel --train-kernel names; returns
    the backend it resolved to."""
    backend = resolve(choice, "--train-kernel")
    if backend == "native":
        from dawm_kernels.torch_ops import group_norm_mish

        model.set_norm_mish_kernel(group_norm_mish)
    return backend
