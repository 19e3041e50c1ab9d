"""A stochastic version of a locomotion task: Gaussian action noise and a heavier torso.

Used at evaluation time only: agents trained on the (deterministic) dataset, with and without
DAWM data, are scored in the perturbed environment, so the question is how much each one's
score drops when the dynamics it learned from no longer hold exactly. Regenerating the data
itself under the same noise needs a hook in the dataset builder (see docs/results.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

NAMESPACE = "dawm"


@dataclass(frozen=True)
class Perturbation:
    """What differs from the plain task."""

    action_noise: float = 0.1
    """Std of the Gaussian added to every action (actions are in [-1, 1]) before clipping."""
    torso_mass_scale: float = 1.25
    """Factor on the torso's mass (body 1 of Hopper, Walker2d and HalfCheetah)."""


STOCHASTIC = Perturbation()


class StochasticDynamics(gym.Wrapper):
    """Adds action noise and scales the torso mass; the noise stream is seeded by reset(seed)."""

    def __init__(self, env: gym.Env, perturbation: Perturbation = STOCHASTIC):
        super().__init__(env)
        self.perturbation = perturbation
        model = env.unwrapped.model
        model.body_mass[1] *= perturbation.torso_mass_scale
        self._rng = np.random.default_rng()

    def reset(self, *, seed: int | None = None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed + 7_919)
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        space = self.action_space
        noise = self._rng.normal(0.0, self.perturbation.action_noise, np.shape(action))
        noisy = np.clip(np.asarray(action) + noise, space.low, space.high)
        return self.env.step(noisy.astype(space.dtype))


def _make(base_id: str, **kwargs) -> gym.Env:
    return StochasticDynamics(gym.make(base_id, **kwargs))


def stochastic_env_id(base_id: str) -> str:
    """'Hopper-v5' -> 'dawm/StochasticHopper-v5', registered with Gymnasium on first use."""
    name, version = base_id.rsplit("-", 1)
    env_id = f"{NAMESPACE}/Stochastic{name}-{version}"
    if env_id not in gym.registry:
        spec = gym.spec(base_id)
        gym.register(
            id=env_id,
            entry_point=_make,
            max_episode_steps=spec.max_episode_steps,
            kwargs={"base_id": base_id},
        )
    return env_id
