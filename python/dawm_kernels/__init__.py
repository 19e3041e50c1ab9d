"""dawm_kernels: the native DAWM engine (fused DDIM + classifier-free guidance + inverse dynamics).

`Engine.from_exports(unet_export, idm_export, ...)` builds it from `DiffusionWorldModel.export()`
and `InverseDynamicsModel.export()`; `engine.generate(states, actions, rtg, seed)` returns
generated states, rewards and inferred actions from native code (C++/OpenMP on the CPU, CUDA
on a GPU), in calls short enough for Ctrl-C to stop a large batch. This package needs only NumPy;
`dawm_kernels.torch_ops` (which needs torch) holds native training kernels as autograd functions.
"""

from ._core import supported_isas
from .engine import Engine, Generated, Layout, cuda_status

__version__ = "0.4.0"

__all__ = ["Engine", "Generated", "Layout", "__version__", "cuda_status", "supported_isas"]
