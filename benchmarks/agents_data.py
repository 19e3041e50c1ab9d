"""Datasets for benchmarks/agents.py, made here (no download): labelled as this project's own.

* ``pendulum_dataset``: Gymnasium Pendulum-v1 episodes (actions rescaled to [-1, 1], the
  range both libraries' actors assume) from a scripted swing-up
  controller mixed, per episode, with uniformly random actions at a rate drawn in [0, 1]
  (a medium-replay-like spread of returns). Episodes end by truncation at 200 steps,
  never by termination. The score references are this benchmark's own: a uniformly random
  policy (0) and the scripted controller (100), both measured with ``evaluate``.
* ``hopper_shaped``: random arrays with Hopper's sizes (11-dim states, 3-dim actions),
  only for timing updates.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from offline_agents import evaluate

ENV_ID = "Pendulum-v1"
MAX_TORQUE = 2.0


def make_env() -> gym.Env:
    """Pendulum-v1 with actions in [-1, 1] (×2 torque inside)."""
    one = np.ones(1, np.float32)
    return gym.wrappers.RescaleAction(gym.make(ENV_ID), -one, one)


def swing_up(obs: np.ndarray) -> np.ndarray:
    """Bang-bang energy pumping far from the top, a PD controller near it (in [-1, 1])."""
    obs = np.atleast_2d(obs)
    cos, sin, vel = obs[:, 0], obs[:, 1], obs[:, 2]
    angle = np.arctan2(sin, cos)
    energy = vel**2 / 6.0 + 5.0 * (cos - 1.0)  # 0 at rest upright, in Pendulum's units
    pump = np.where(energy < 0, 1.0, -1.0) * np.sign(vel) * MAX_TORQUE
    torque = np.where(cos > 0.85, -10.0 * angle - 2.0 * vel, pump)
    return (np.clip(torque, -MAX_TORQUE, MAX_TORQUE) / MAX_TORQUE)[:, None].astype(np.float32)


def _random(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, (len(np.atleast_2d(obs)), 1)).astype(np.float32)


def pendulum_dataset(episodes: int, seed: int) -> dict[str, np.ndarray]:
    """Flat transition arrays (observations, actions, rewards, next_observations,
    terminals, timeouts) plus ``episode_returns``; episodes are contiguous rows."""
    rng = np.random.default_rng(seed)
    env = make_env()
    cols: dict[str, list] = {k: [] for k in ("obs", "act", "rew", "next", "timeout")}
    returns = []
    for ep in range(episodes):
        noise = rng.uniform()
        obs, _ = env.reset(seed=seed * 100_000 + ep)
        total, done = 0.0, False
        while not done:
            explore = rng.uniform() < noise
            act = _random(obs, rng)[0] if explore else swing_up(obs)[0]
            nxt, rew, terminated, truncated, _ = env.step(act)
            assert not terminated  # Pendulum only truncates
            done = truncated
            for key, val in zip(cols, (obs, act, rew, nxt, truncated), strict=True):
                cols[key].append(val)
            obs, total = nxt, total + float(rew)
        returns.append(total)
    env.close()
    n = len(cols["rew"])
    return {
        "observations": np.asarray(cols["obs"], np.float32),
        "actions": np.asarray(cols["act"], np.float32),
        "rewards": np.asarray(cols["rew"], np.float32),
        "next_observations": np.asarray(cols["next"], np.float32),
        "terminals": np.zeros(n, bool),
        "timeouts": np.asarray(cols["timeout"], bool),
        "episode_returns": np.asarray(returns),
    }


def pendulum_references(episodes: int, seed: int) -> tuple[float, float]:
    """(random policy, scripted controller) mean returns with evaluate's seeding."""
    rng = np.random.default_rng(seed)
    low = evaluate(lambda o: _random(o, rng), make_env, episodes, seed).mean
    high = evaluate(swing_up, make_env, episodes, seed).mean
    return low, high


def hopper_shaped(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 11)).astype(np.float32)
    return {
        "observations": obs,
        "actions": rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        "rewards": rng.normal(size=n).astype(np.float32),
        "next_observations": np.roll(obs, -1, axis=0),
        "terminals": rng.uniform(size=n) < 0.001,
        "timeouts": np.arange(n) % 1000 == 999,
    }
