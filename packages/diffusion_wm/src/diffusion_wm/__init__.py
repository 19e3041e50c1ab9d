"""diffusion_wm: a conditional diffusion model over sequences of vectors.

Learns p(x_{1..L} | c, g) with a temporal U-Net, a cosine schedule, DDIM sampling and
classifier-free guidance on g. Knows nothing about RL: callers pass arrays.
"""

__version__ = "0.2.4"

from .config import SamplingConfig, WorldModelConfig
from .diffusion import GaussianDiffusion
from .model import DiffusionWorldModel
from .normalizer import Normalizer
from .sampler import DDIMSampler, DDPMSampler
from .schedule import NoiseSchedule
from .training import FitHistory
from .unet import TemporalUNet, UNetConfig

__all__ = [
    "DDIMSampler",
    "DDPMSampler",
    "DiffusionWorldModel",
    "FitHistory",
    "GaussianDiffusion",
    "NoiseSchedule",
    "Normalizer",
    "SamplingConfig",
    "TemporalUNet",
    "UNetConfig",
    "WorldModelConfig",
    "__version__",
]
