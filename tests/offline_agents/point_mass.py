"""A 1-D point mass with a known optimum, and offline data from a random policy.

State x ∈ [-2, 2], action a ∈ [-1, 1], x' = clip(x + 0.25·a), reward −|x'|, 20 steps then
truncation (never a termination). Staying put from x0 ~ U(−2, 2) returns about −20 on
average, uniformly random actions about the same, the optimal policy (full speed towards
0) about −3.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from offline_agents import Transitions

HORIZON = 20
SPEED = 0.25


class PointMass(gym.Env):
    observation_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = float(self.np_random.uniform(-2.0, 2.0))
        self.t = 0
        return np.array([self.x], np.float32), {}

    def step(self, action):
        a = float(np.clip(np.asarray(action).reshape(-1)[0], -1.0, 1.0))
        self.x = float(np.clip(self.x + SPEED * a, -2.0, 2.0))
        self.t += 1
        return np.array([self.x], np.float32), -abs(self.x), False, self.t >= HORIZON, {}


def random_policy_data(episodes: int, seed: int) -> tuple[Transitions, float]:
    """Transitions of a uniformly random policy and that policy's mean episode return."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, episodes)
    obs, act, rew, nxt = [], [], [], []
    for _ in range(HORIZON):
        a = rng.uniform(-1.0, 1.0, episodes)
        x2 = np.clip(x + SPEED * a, -2.0, 2.0)
        obs.append(x)
        act.append(a)
        rew.append(-np.abs(x2))
        nxt.append(x2)
        x = x2
    col = lambda v: np.concatenate(v).astype(np.float32).reshape(-1, 1)  # noqa: E731
    rewards = np.concatenate(rew).astype(np.float32)
    data = Transitions(col(obs), col(act), rewards, col(nxt), np.zeros(len(rewards), bool))
    return data, float(np.sum(rew, axis=0).mean())
