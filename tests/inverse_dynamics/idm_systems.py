"""Test data: a linear system with known inverse dynamics: s' = A s + B a + noise, B full column rank."""

from __future__ import annotations

import numpy as np

OBS_DIM, ACT_DIM = 6, 3


def linear_system_episodes(n_episodes: int, length: int, seed: int, noise: float = 0.01):
    rng = np.random.default_rng(seed)
    system = np.random.default_rng(1234)  # the same dynamics for every call
    A = 0.9 * np.linalg.qr(system.normal(size=(OBS_DIM, OBS_DIM)))[0]
    B = system.normal(size=(OBS_DIM, ACT_DIM))
    episodes = []
    for _ in range(n_episodes):
        s = rng.normal(size=OBS_DIM)
        obs, act = [s], []
        for _ in range(length):
            a = rng.uniform(-1, 1, size=ACT_DIM)
            s = A @ s + B @ a + noise * rng.normal(size=OBS_DIM)
            obs.append(s)
            act.append(a)
        episodes.append((np.array(obs, np.float32), np.array(act, np.float32)))
    return episodes
