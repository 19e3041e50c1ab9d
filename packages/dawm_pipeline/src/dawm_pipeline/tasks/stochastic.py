"""A stochastic version of a task: Gaussian action noise and a heavier body.

`<robot>-<level>-stochastic` datasets are collected in these environments and agents trained
on them are scored there too, so "deterministic vs stochastic" compares the same task with
and without noisy dynamics. The envs are registered with Gymnasium (`dawm/StochasticHopper-v5`,
...) on first use, with a string entry point, so `gym.make` on an id read back from a run
record or a Minari dataset works once `dawm_pipeline.tasks` is imported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from dawm_pipeline.tasks.registry import Robot, robot, robots

NAMESPACE = "dawm"


@dataclass(frozen=True)
class Perturbation:
    """What differs from the plain task."""

    action_noise: float = 0.1
    """Std of the Gaussian added to every action (relative to an action bound of 1) before
    clipping."""
    torso_mass_scale: float = 1.25
    """Factor on the mass of the robot's `perturbed_body` (the torso of the locomotion robots)."""

    @property
    def label(self) -> str:
        return (
            f"stochastic dynamics (action noise {self.action_noise:g}, "
            f"torso mass x{self.torso_mass_scale:g})"
        )


STOCHASTIC = Perturbation()


def perturbation_record(task) -> dict[str, Any]:
    """{"perturbation": its settings} for a stochastic Task, else {}: what such a dataset
    depends on beyond its name, for stage hashes and result rows."""
    return {"perturbation": asdict(STOCHASTIC)} if task.stochastic else {}


class StochasticDynamics(gym.Wrapper):
    """Adds action noise and scales one body's mass; the noise stream is seeded by reset(seed)."""

    def __init__(self, env: gym.Env, body: str, perturbation: Perturbation = STOCHASTIC):
        super().__init__(env)
        self.perturbation = perturbation
        model = env.unwrapped.model
        model.body(body).mass[:] *= perturbation.torso_mass_scale
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


def make(robot_name: str, **kwargs) -> gym.Env:
    """Gymnasium entry point of the registered stochastic envs."""
    bot = robot(robot_name)
    return StochasticDynamics(gym.make(bot.gym_id, **kwargs), bot.perturbed_body)


def stochastic_gym_id(bot: Robot) -> str:
    """Hopper -> 'dawm/StochasticHopper-v5', registered with Gymnasium if it is not yet."""
    name, version = bot.gym_id.rsplit("-", 1)
    env_id = f"{NAMESPACE}/Stochastic{name}-{version}"
    if env_id not in gym.registry:
        gym.register(
            id=env_id,
            entry_point=f"{__name__}:make",
            max_episode_steps=gym.spec(bot.gym_id).max_episode_steps,
            kwargs={"robot_name": bot.name},
        )
    return env_id


def register_all() -> None:
    """Register the stochastic env of every robot that has one (ids in stored records)."""
    for name in robots():
        bot = robot(name)
        if bot.perturbed_body is not None:
            stochastic_gym_id(bot)
