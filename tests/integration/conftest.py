"""A tiny hopper dataset in D4RL's hdf5 layout, made by rolling a noisy scripted policy."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import h5py
import numpy as np
import pytest


def write_tiny_hopper(path: Path, transitions: int = 1500, max_len: int = 120, seed: int = 0):
    """Rollouts of a sinusoidal policy plus noise in Hopper-v5, episodes cut at `max_len`."""
    env = gym.make("Hopper-v5")
    rng = np.random.default_rng(seed)
    keys = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
    out: dict[str, list] = {k: [] for k in keys}
    obs, _ = env.reset(seed=seed)
    t, phase = 0, rng.uniform(0, 2 * np.pi)
    while len(out["rewards"]) < transitions:
        action = np.clip(
            0.5 * np.sin(0.3 * t + phase + np.arange(3)) + 0.3 * rng.normal(size=3), -1, 1
        ).astype(np.float32)
        nxt, reward, terminated, truncated, _ = env.step(action)
        t += 1
        timeout = (t >= max_len or truncated) and not terminated
        for k, v in zip(keys, (obs, action, reward, nxt, terminated, timeout), strict=True):
            out[k].append(v)
        obs = nxt
        if terminated or timeout:
            obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
            t, phase = 0, rng.uniform(0, 2 * np.pi)
    env.close()
    with h5py.File(path, "w") as f:
        for k in keys:
            dtype = bool if k in ("terminals", "timeouts") else np.float32
            f[k] = np.asarray(out[k], dtype=dtype)
    return path


@pytest.fixture(scope="session")
def tiny_hopper(tmp_path_factory) -> Path:
    return write_tiny_hopper(tmp_path_factory.mktemp("data") / "tiny-hopper-medium-replay.hdf5")
