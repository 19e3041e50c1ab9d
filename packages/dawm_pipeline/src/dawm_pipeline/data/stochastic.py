"""A stochastic version of each locomotion task: Gaussian action noise and a heavier torso.

`<env>-<level>-stochastic` datasets are collected in these environments and agents trained on
them are scored there too, so "deterministic vs stochastic" compares the same task with and
without noisy dynamics. The envs are registered with Gymnasium (`dawm/StochasticHopper-v5`,
...) when this module is imported (importing `dawm_pipeline.data` does), with a string entry
point, so `gym.make` on an id read back from a run record or a Minari dataset works.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from dawm_pipeline.data.names import GYM_ENV_IDS, parse_name

NAMESPACE = "dawm"


@dataclass(frozen=True)
class Perturbation:
    """What differs from the plain task."""

    action_noise: float = 0.1
    """Std of the Gaussian added to every action (actions are in [-1, 1]) before clipping."""
    torso_mass_scale: float = 1.25
    """Factor on the torso's mass (body 1 of Hopper, Walker2d and HalfCheetah)."""

    @property
    def label(self) -> str:
        return (
            f"stochastic dynamics (action noise {self.action_noise:g}, "
            f"torso mass x{self.torso_mass_scale:g})"
        )


STOCHASTIC = Perturbation()


def perturbation_record(dataset: str) -> dict[str, Any]:
    """{"perturbation": its settings} for a `-stochastic` dataset name, else {}: what such a
    dataset depends on beyond its name, for stage hashes and result rows."""
    return {"perturbation": asdict(STOCHASTIC)} if parse_name(dataset).stochastic else {}


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


def make(base_id: str, **kwargs) -> gym.Env:
    """Gymnasium entry point of the registered stochastic envs."""
    return StochasticDynamics(gym.make(base_id, **kwargs))


def stochastic_env_id(base_id: str) -> str:
    """'Hopper-v5' -> 'dawm/StochasticHopper-v5', registered with Gymnasium if it is not yet."""
    name, version = base_id.rsplit("-", 1)
    env_id = f"{NAMESPACE}/Stochastic{name}-{version}"
    if env_id not in gym.registry:
        gym.register(
            id=env_id,
            entry_point=f"{__name__}:make",
            max_episode_steps=gym.spec(base_id).max_episode_steps,
            kwargs={"base_id": base_id},
        )
    return env_id


for _base_id in GYM_ENV_IDS.values():
    stochastic_env_id(_base_id)
