"""The task registry: every robot the pipeline knows and the dataset names built on them.

    from dawm_pipeline.tasks import resolve
    task = resolve("hopper-medium-replay")
    task.robot.gym_id, task.gym_id, task.robot.rtg_scale, task.robot.terminal_flags(next_obs)

Importing this package registers the shipped robots (builtin.py) and their stochastic envs.
"""

from dawm_pipeline.tasks import builtin as _builtin  # noqa: F401  (registers the robots)
from dawm_pipeline.tasks.registry import (
    LEVELS,
    STOCHASTIC_SUFFIX,
    BehaviourRecipe,
    IQLSettings,
    Robot,
    SimulatorSpec,
    Task,
    normalized_score,
    register,
    resolve,
    robot,
    robots,
    task_names,
    unregister,
)
from dawm_pipeline.tasks.stochastic import STOCHASTIC, Perturbation, register_all

register_all()

__all__ = [
    "LEVELS",
    "STOCHASTIC",
    "STOCHASTIC_SUFFIX",
    "BehaviourRecipe",
    "IQLSettings",
    "Perturbation",
    "Robot",
    "SimulatorSpec",
    "Task",
    "normalized_score",
    "register",
    "resolve",
    "robot",
    "robots",
    "task_names",
    "unregister",
]
