"""Roll a deterministic policy out in gymnasium envs; raw and normalized returns.

gymnasium is imported by the caller's ``env_fn`` only, so this module (and the package)
imports without the ``eval`` extra.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EvalResult:
    """Per-episode returns (episode i was reset with seed + i) and their summary."""

    returns: np.ndarray
    lengths: np.ndarray
    normalized: np.ndarray | None = None  # 100·(R − R_min)/(R_max − R_min), when given refs

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    @property
    def normalized_mean(self) -> float | None:
        return None if self.normalized is None else float(np.mean(self.normalized))

    @property
    def normalized_std(self) -> float | None:
        return None if self.normalized is None else float(np.std(self.normalized))

    @staticmethod
    def summary_fields() -> tuple[str, ...]:
        return ("eval_return_mean", "eval_return_std", "eval_normalized_mean")

    def summary(self) -> dict[str, float]:
        out = {"eval_return_mean": self.mean, "eval_return_std": self.std}
        if self.normalized is not None:
            out["eval_normalized_mean"] = float(np.mean(self.normalized))
        return out


def normalized_score(returns: np.ndarray, ref_min: float, ref_max: float) -> np.ndarray:
    """D4RL's 100·(R − R_random)/(R_expert − R_random); the caller owns the references."""
    if not ref_max > ref_min:
        raise ValueError(f"ref_max ({ref_max}) must exceed ref_min ({ref_min})")
    return 100.0 * (np.asarray(returns, dtype=np.float64) - ref_min) / (ref_max - ref_min)


def evaluate(
    policy: Callable[[np.ndarray], np.ndarray],
    env_fn: Callable[[], Any],
    episodes: int = 10,
    seed: int = 0,
    *,
    ref_min: float | None = None,
    ref_max: float | None = None,
    num_envs: int = 10,
) -> EvalResult:
    """Run ``episodes`` episodes of ``policy`` (batch of observations -> batch of actions).

    ``num_envs`` envs from ``env_fn`` step side by side so the policy sees one batch per
    step; each env runs whole episodes (episode i reset with ``seed + i``) and an episode
    ends on termination or truncation. Give ``ref_min`` / ``ref_max`` (e.g. D4RL's random
    and expert returns) for normalized scores. An agent's ``act`` applies its own state
    normalization, so pass ``agent.act`` as is.
    """
    if episodes <= 0 or num_envs <= 0:
        raise ValueError(f"episodes and num_envs must be positive, got {episodes}, {num_envs}")
    if (ref_min is None) != (ref_max is None):
        raise ValueError("give both ref_min and ref_max, or neither")
    envs = [env_fn() for _ in range(min(num_envs, episodes))]
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    next_episode = 0
    slot_episode: list[int] = []
    obs: list[np.ndarray] = []
    for env in envs:
        o, _ = env.reset(seed=seed + next_episode)
        slot_episode.append(next_episode)
        obs.append(np.asarray(o))
        next_episode += 1
    active = list(range(len(envs)))
    try:
        while active:
            actions = np.asarray(policy(np.stack([obs[i] for i in active])))
            still = []
            for row, i in enumerate(active):
                o, r, terminated, truncated, _ = envs[i].step(actions[row])
                ep = slot_episode[i]
                returns[ep] += float(r)
                lengths[ep] += 1
                if terminated or truncated:
                    if next_episode == episodes:
                        continue
                    o, _ = envs[i].reset(seed=seed + next_episode)
                    slot_episode[i] = next_episode
                    next_episode += 1
                obs[i] = np.asarray(o)
                still.append(i)
            active = still
    finally:
        for env in envs:
            env.close()
    normalized = None
    if ref_min is not None and ref_max is not None:
        normalized = normalized_score(returns, ref_min, ref_max)
    return EvalResult(returns=returns, lengths=lengths, normalized=normalized)
