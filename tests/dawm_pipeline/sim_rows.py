"""Real (s, a, s') rows of a registered robot's env, for the simulator checks' tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from dawm_pipeline.tasks import robot


def transitions(name: str, n: int = 300, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Real (s, a, s') rows of the robot's env under a smooth random policy."""
    return rewarded_transitions(name, n, seed)[:3]


def rewarded_transitions(name: str, n: int = 300, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Real (s, a, s', r) rows of the robot's env under a smooth random policy."""
    bot = robot(name)
    env = gym.make(bot.gym_id)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    rows: list[tuple] = []
    for t in range(n):
        action = np.clip(
            bot.action_bound * (0.6 * np.sin(0.2 * t + np.arange(bot.act_dim)))
            + 0.3 * rng.normal(size=bot.act_dim),
            -bot.action_bound,
            bot.action_bound,
        ).astype(np.float32)
        nxt, reward, terminated, truncated, _ = env.step(action)
        rows.append((obs, action, nxt, reward))
        obs = env.reset()[0] if terminated or truncated else nxt
    env.close()
    return tuple(np.asarray(c, np.float32) for c in zip(*rows, strict=True))
