"""Termination of generated steps: the environments' own health checks applied to ŝ.

The world model generates states and rewards but no done flags, so a generated transition
(ŝ_i, â_i, r̂_i, ŝ_{i+1}) is terminal when ŝ_{i+1} fails the health check of the Gymnasium v5
environment (observations exclude the x position, so obs[0] is the torso height z and obs[1]
the torso angle):

- Hopper-v5 (gymnasium/envs/mujoco/hopper_v5.py, `is_healthy`): z > 0.7, -0.2 < angle < 0.2,
  and every entry of obs[1:] (the state vector without x and z) strictly inside (-100, 100).
- Walker2d-v5 (gymnasium/envs/mujoco/walker2d_v5.py, `is_healthy`): 0.8 < z < 2.0 and
  -1 < angle < 1.
- HalfCheetah-v5 never terminates (only the 1000-step time limit truncates).
"""

from __future__ import annotations

import numpy as np


def _hopper(obs: np.ndarray) -> np.ndarray:
    z, angle = obs[..., 0], obs[..., 1]
    state_ok = np.all((obs[..., 1:] > -100.0) & (obs[..., 1:] < 100.0), axis=-1)
    return state_ok & (z > 0.7) & (angle > -0.2) & (angle < 0.2)


def _walker2d(obs: np.ndarray) -> np.ndarray:
    z, angle = obs[..., 0], obs[..., 1]
    return (z > 0.8) & (z < 2.0) & (angle > -1.0) & (angle < 1.0)


def _halfcheetah(obs: np.ndarray) -> np.ndarray:
    return np.ones(obs.shape[:-1], bool)


_HEALTHY = {"hopper": _hopper, "walker2d": _walker2d, "halfcheetah": _halfcheetah}


def is_healthy(robot: str, obs: np.ndarray) -> np.ndarray:
    """Boolean health per observation row (any leading shape)."""
    if robot not in _HEALTHY:
        raise ValueError(f"no termination rule for {robot!r}: use one of {', '.join(_HEALTHY)}")
    return _HEALTHY[robot](np.asarray(obs))


def terminal_flags(robot: str, next_obs: np.ndarray) -> np.ndarray:
    """Terminal flag of a generated transition: its next state is unhealthy."""
    return ~is_healthy(robot, next_obs)
