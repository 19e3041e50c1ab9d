"""Inverse dynamics for offline RL: infer a_t from a window of states (s_{t-m..t-1}, s_t, s_{t+1}).

Standalone: takes numpy arrays and dataclass configs, knows nothing about any dataset format.
"""

__version__ = "0.3.0"

from inverse_dynamics.config import FitConfig, IDMConfig
from inverse_dynamics.io import load, save
from inverse_dynamics.metrics import ActionMetrics, evaluate, r2_per_dimension
from inverse_dynamics.model import InverseDynamicsModel
from inverse_dynamics.training import FitResult, fit
from inverse_dynamics.windows import episodes_from_arrays, make_windows

__all__ = [
    "ActionMetrics",
    "FitConfig",
    "FitResult",
    "IDMConfig",
    "InverseDynamicsModel",
    "__version__",
    "episodes_from_arrays",
    "evaluate",
    "fit",
    "load",
    "make_windows",
    "r2_per_dimension",
    "save",
]
