"""Fixtures shared by the experiment tests (test_experiments.py, test_ray_launcher.py)."""

import gymnasium as gym
import h5py
import numpy as np
import pytest


@pytest.fixture(scope="module")
def hopper_file(tmp_path_factory):
    """~400 transitions of random-action Hopper-v5 episodes in D4RL's hdf5 layout."""
    env = gym.make("Hopper-v5")
    rng = np.random.default_rng(0)
    keys = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
    out = {k: [] for k in keys}
    episode = 0
    while len(out["rewards"]) < 400:
        obs, _ = env.reset(seed=episode)
        for t in range(60):
            action = rng.uniform(-1, 1, 3).astype(np.float32)
            nxt, reward, term, _, _ = env.step(action)
            timeout = t == 59 and not term
            for k, v in zip(keys, (obs, action, reward, nxt, term, timeout), strict=True):
                out[k].append(v)
            obs = nxt
            if term:
                break
        episode += 1
    path = tmp_path_factory.mktemp("data") / "hopper-medium-replay-v2.hdf5"
    with h5py.File(path, "w") as f:
        for k in keys:
            f[k] = np.asarray(out[k])
    return str(path)
