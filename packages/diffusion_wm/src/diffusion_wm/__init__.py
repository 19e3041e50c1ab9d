"""diffusion_wm."""

__version__ = "0.1.0"
