"""What the pipeline knows about a task, in one place: `Robot` (per simulator) and `Task`.

A dataset name `<robot>-<level>[-stochastic]` resolves once to a frozen `Task`; every stage,
the dataset recipe, the simulator check and the experiments read robot facts from it and
keep no table of their own. Adding an environment is one `register(Robot(...))` plus its
data bundle (see `builtin.py` for the shipped robots and tests/dawm_pipeline/test_tasks.py
for a toy registration).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LEVELS = ("medium", "medium-replay", "medium-expert")
STOCHASTIC_SUFFIX = "-stochastic"

StateSetter = Callable[[Any, np.ndarray], None]
"""Puts an unwrapped MuJoCo env into the state an observation describes."""
HealthCheck = Callable[[np.ndarray], np.ndarray]
"""Boolean health per observation row (any leading shape); unhealthy = the episode ends."""


@dataclass(frozen=True)
class SimulatorSpec:
    """What the simulator check needs to replay one step from an observation."""

    set_state: StateSetter
    velocity_dims: tuple[int, int]
    """[start, stop) of the observation's velocity entries: the ones an action moves in one
    step (positions barely change in one step, so an R² over them hides action errors)."""
    velocity_clip: float | None = None
    """The env clips observed velocities to ±this; rows at the clip cannot be replayed."""
    note: str = ""
    """What the replay cannot reproduce (unobserved state), said in reports."""


@dataclass(frozen=True)
class BehaviourRecipe:
    """How this project's behaviour data for the robot is made (datasets/train.py, build.py)."""

    sac_steps: int
    """Env steps of SAC training (sized from measured speed; docs/datasets.md)."""
    seed: int = 0
    """SAC seed of the shipped run."""
    eval_every: int = 10_000
    """Env steps between evaluated (and exported) checkpoints."""
    learning_starts: int = 100
    """Uniform-random env steps before SAC's first update (stable-baselines3's default)."""
    medium_target: float = 33.3
    """Normalized score the medium checkpoint aims at (the rule in datasets/build.py)."""
    medium_target_source: str = "D4RL: medium = about 1/3 of the expert"
    medium_by_sampled_returns: bool = False
    """Judge checkpoints for the medium level by the return of sampled (tanh-Gaussian)
    episodes, the level their data will have, instead of the deterministic evaluation: for
    robots whose return the action noise alone moves far (Pusher's control cost)."""


@dataclass(frozen=True)
class IQLSettings:
    """IQL's per-task settings (CORL configs/offline/iql/<robot>/<level>_v2.yaml); the
    defaults are CORL's for every task without an override (walker2d, halfcheetah)."""

    expectile: float = 0.7
    beta: float = 3.0
    tau: float = 0.005
    deterministic_actor: bool = False
    scale_rewards: bool = False
    """Rewards × 1000 / (max − min episode return) (CORL `normalize_reward`)."""


@dataclass(frozen=True)
class Robot:
    """One simulated robot: its Gymnasium env and everything the pipeline derives from it."""

    name: str
    gym_id: str
    obs_dim: int
    act_dim: int
    action_bound: float
    """Actions live in [-bound, bound] (all dimensions)."""
    score_refs: tuple[float, float]
    """(random, expert) returns of the normalized score 100·(R − random)/(expert − random)."""
    score_refs_source: str
    rtg_scale: float
    """Return-to-go divisor: the normalized R_tg is discounted return-to-go / scale."""
    target_rtg: dict[str, float]
    """Normalized R_tg per level for generation when targets are fixed (rtg rule `target`)."""
    rtg_source: str
    healthy: HealthCheck | None
    """Termination rule for generated states; None: the env never terminates."""
    termination_source: str
    simulator: SimulatorSpec
    behaviour: BehaviourRecipe
    perturbed_body: str | None = None
    """MuJoCo body whose mass the stochastic variant scales; None: no stochastic variant."""
    iql: dict[str, IQLSettings] = field(default_factory=dict)
    """Per-level IQL overrides (CORL); levels not named use IQLSettings()."""

    def normalized_score(self, returns: float | np.ndarray) -> float | np.ndarray:
        lo, hi = self.score_refs
        out = 100.0 * (np.asarray(returns, dtype=np.float64) - lo) / (hi - lo)
        return float(out) if out.ndim == 0 else out

    def terminal_flags(self, next_obs: np.ndarray) -> np.ndarray:
        """Terminal flag of a (generated) transition: its next state is unhealthy."""
        next_obs = np.asarray(next_obs)
        if self.healthy is None:
            return np.zeros(next_obs.shape[:-1], bool)
        return ~self.healthy(next_obs)


_ROBOTS: dict[str, Robot] = {}


def register(robot: Robot) -> Robot:
    """Add a robot to the registry (a name registered twice must be the same object)."""
    known = _ROBOTS.get(robot.name)
    if known is not None and known is not robot:
        raise ValueError(f"robot {robot.name!r} is already registered")
    _ROBOTS[robot.name] = robot
    return robot


def unregister(name: str) -> None:
    """Remove a robot (tests that register a toy one clean up with this)."""
    _ROBOTS.pop(name, None)


def robots() -> tuple[str, ...]:
    """Registered robot names, in registration order."""
    return tuple(_ROBOTS)


def robot(name: str) -> Robot:
    """A registered robot by name; one-line error naming the known ones otherwise."""
    key = name.strip().lower()
    if key not in _ROBOTS:
        raise ValueError(f"unknown robot {name!r}: use one of {', '.join(_ROBOTS)}")
    return _ROBOTS[key]


@dataclass(frozen=True)
class Task:
    """A dataset name resolved: which robot, which level, plain or stochastic dynamics."""

    robot: Robot
    level: str
    stochastic: bool = False

    @property
    def name(self) -> str:
        return f"{self.robot.name}-{self.level}{STOCHASTIC_SUFFIX if self.stochastic else ''}"

    @property
    def gym_id(self) -> str:
        """Where the data was collected and where agents trained on it are evaluated."""
        if not self.stochastic:
            return self.robot.gym_id
        from dawm_pipeline.tasks.stochastic import stochastic_gym_id

        return stochastic_gym_id(self.robot)

    @property
    def target_rtg(self) -> float:
        return self.robot.target_rtg[self.level]

    @property
    def iql(self) -> IQLSettings:
        return self.robot.iql.get(self.level, IQLSettings())

    def minari_id(self, namespace: str) -> str:
        suffix = STOCHASTIC_SUFFIX if self.stochastic else ""
        return f"{namespace}/{self.robot.name}/{self.level}{suffix}-v0"

    def normalized_score(self, returns: float | np.ndarray) -> float | np.ndarray:
        return self.robot.normalized_score(returns)

    def with_level(self, level: str) -> Task:
        return resolve(f"{self.robot.name}-{level}{STOCHASTIC_SUFFIX if self.stochastic else ''}")

    def __str__(self) -> str:
        return self.name


def normalized_score(name: str, returns: float | np.ndarray) -> float | np.ndarray:
    """The normalized score 100·(R − random)/(expert − random) of a robot or dataset name
    (`hopper`, `hopper-medium-v2`); D4RL's references for the locomotion robots."""
    key = name.strip().lower().partition("-")[0]
    if key not in _ROBOTS:
        raise ValueError(f"no reference scores for {name!r}: use one of {', '.join(_ROBOTS)}")
    return _ROBOTS[key].normalized_score(returns)


def task_names() -> tuple[str, ...]:
    """Every plain dataset name of the registered robots."""
    return tuple(f"{r}-{lv}" for r in _ROBOTS for lv in LEVELS)


def resolve(name: str) -> Task:
    """`hopper-medium-replay` (also `-v2`, `hopper-medium-stochastic`) -> its Task.

    One-line errors name the valid choices.
    """
    base = name.strip().lower().removesuffix("-v2")
    stochastic = base.endswith(STOCHASTIC_SUFFIX)
    robot_name, _, level = base.removesuffix(STOCHASTIC_SUFFIX).partition("-")
    if robot_name not in _ROBOTS or level not in LEVELS:
        raise ValueError(
            f"unknown dataset name {name!r}: use one of {', '.join(task_names())} (a -v2 suffix "
            f"is accepted; medium and medium-expert also as e.g. "
            f"hopper-medium{STOCHASTIC_SUFFIX})"
        )
    bot = _ROBOTS[robot_name]
    if stochastic and level == "medium-replay":
        raise ValueError(
            f"{bot.name}-medium-replay{STOCHASTIC_SUFFIX}: a replay buffer is the SAC training "
            f"run's own history and cannot be re-collected in the stochastic env; use "
            f"{bot.name}-medium{STOCHASTIC_SUFFIX} or {bot.name}-medium-expert{STOCHASTIC_SUFFIX}"
        )
    if stochastic and bot.perturbed_body is None:
        raise ValueError(f"{name!r}: {bot.name} has no stochastic variant; use {bot.name}-{level}")
    return Task(bot, level, stochastic)
