"""dawm_kernels: the native DAWM engine (fused DDIM + classifier-free guidance + inverse dynamics).

`Engine.from_exports(unet_export, idm_export, ...)` builds it from `DiffusionWorldModel.export()`
and `InverseDynamicsModel.export()`; `engine.generate(states, actions, rtg, seed)` returns
generated states, rewards and inferred actions in one native call (C++/OpenMP on the CPU, CUDA
on a GPU). This package needs only NumPy.
"""

from ._core import supported_isas
from .engine import Engine, Generated, Layout, cuda_status

__version__ = "0.1.0"

__all__ = ["Engine", "Generated", "Layout", "__version__", "cuda_status", "supported_isas"]
