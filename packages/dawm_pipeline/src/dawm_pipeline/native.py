"""Which backend runs: the native dawm_kernels engine when it is installed, else PyTorch.

Options with the choices auto, torch and native (--sampler, --train-kernel) resolve here, so
a missing engine is refused with the same line whichever option asks for it.
"""

from __future__ import annotations

import importlib.util

import torch

SAMPLER_MODULE = "dawm_kernels"
TRAIN_KERNEL_MODULE = "dawm_kernels.torch_ops"
NEEDS = {
    SAMPLER_MODULE: "the dawm_kernels engine",
    TRAIN_KERNEL_MODULE: "dawm_kernels >= 0.3.0 (its training kernels)",
}


def available(module: str = SAMPLER_MODULE) -> bool:
    """Whether `module` can be imported (an older engine lacks the training kernels)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package
        return False


def resolve(choice: str, option: str, module: str = SAMPLER_MODULE) -> str:
    """'auto' -> 'native' when `module` is installed, else 'torch'."""
    if choice == "auto":
        return "native" if available(module) else "torch"
    if choice == "native" and not available(module):
        raise ValueError(
            f"{option} native needs {NEEDS[module]}: install it with `pip install .` at the "
            f"repo root, or use {option} torch"
        )
    if choice not in ("torch", "native"):
        raise ValueError(f"unknown {option} {choice!r}: use auto, torch or native")
    return choice


def use_train_kernel(model, choice: str, device: str) -> str:
    """Give a DiffusionWorldModel the native training kernels --train-kernel names, where they
    run (the CPU): the Mish(GroupNorm) pair, float32 in both precisions, and the copies of
    bfloat16 GEMM convolutions; returns the backend that computes them."""
    backend = resolve(choice, "--train-kernel", TRAIN_KERNEL_MODULE)
    if backend != "native" or torch.device(device).type != "cpu":
        return "torch"
    from dawm_kernels import torch_ops

    model.set_norm_mish_kernel(torch_ops.group_norm_mish)
    # dawm_kernels 0.3 has no packing: its bfloat16 convolutions then copy with PyTorch's ops
    model.set_conv_packing(getattr(torch_ops, "BF16_CONV_PACKING", None))
    return backend


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 (AVX512-BF16 or AMX); elsewhere bfloat16 GEMMs
    are emulated and slower than float32 ones."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch's private API
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
