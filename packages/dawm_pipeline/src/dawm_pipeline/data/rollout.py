"""Roll out a `GaussianPolicy` in Gymnasium: evaluation returns and dataset episodes.

Episode k is seeded on its own (env reset seed and noise stream derive from (seed, k)),
so the same seed gives identical arrays on the same machine whatever else ran before.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from dawm_pipeline.data.dataset import Episode
from dawm_pipeline.data.policy import GaussianPolicy


def run_episode(
    policy: GaussianPolicy, env: gym.Env, seed: int, index: int, stochastic: bool
) -> Episode:
    """One episode of `policy` in `env`; reset seed and action noise depend on (seed, index)."""
    rng = np.random.default_rng([seed, index])
    obs, _ = env.reset(seed=int(np.random.SeedSequence([seed, index]).generate_state(1)[0]))
    rows: dict[str, list] = {k: [] for k in ("obs", "act", "rew", "next", "term", "trunc")}
    while True:
        noise = rng.standard_normal(policy.act_dim) if stochastic else None
        action = policy.act(obs[None], noise[None] if noise is not None else None)[0]
        next_obs, reward, terminated, truncated, _ = env.step(action.astype(np.float32))
        for k, v in zip(rows, (obs, action, reward, next_obs, terminated, truncated), strict=True):
            rows[k].append(v)
        obs = next_obs
        if terminated or truncated:
            break
    return Episode(
        observations=np.asarray(rows["obs"], dtype=np.float32),
        actions=np.asarray(rows["act"], dtype=np.float32),
        rewards=np.asarray(rows["rew"], dtype=np.float32),
        next_observations=np.asarray(rows["next"], dtype=np.float32),
        terminals=np.asarray(rows["term"], dtype=bool),
        timeouts=np.asarray(rows["trunc"], dtype=bool) & ~np.asarray(rows["term"], dtype=bool),
    )


def evaluate(
    policy: GaussianPolicy, env_id: str, episodes: int, seed: int, stochastic: bool = False
) -> np.ndarray:
    """Returns of `episodes` episodes: mean actions, or sampled ones as datasets are made."""
    env = gym.make(env_id)
    try:
        return np.array(
            [
                run_episode(policy, env, seed, i, stochastic=stochastic).episode_return
                for i in range(episodes)
            ]
        )
    finally:
        env.close()


def collect(
    policy: GaussianPolicy,
    env_id: str,
    min_transitions: int,
    seed: int,
    desc: str = "rollouts",
) -> list[Episode]:
    """Whole stochastic episodes until at least `min_transitions` transitions are collected."""
    env = gym.make(env_id)
    out: list[Episode] = []
    total = 0
    try:
        with tqdm(total=min_transitions, desc=desc, unit="step", mininterval=2.0) as bar:
            while total < min_transitions:
                ep = run_episode(policy, env, seed, len(out), stochastic=True)
                out.append(ep)
                total += len(ep)
                bar.update(min(len(ep), min_transitions - bar.n))
    finally:
        env.close()
    return out
