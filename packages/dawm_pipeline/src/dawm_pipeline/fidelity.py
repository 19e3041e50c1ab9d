"""World-model fidelity at step 0: does ŝ_{t+1} follow a_t the way the simulator does?

A synthetic transition (s_t, a_t, r̂_t, ŝ_{t+1}) helps an agent only if ŝ_{t+1} and r̂_t are
what a_t would cause. Step 0 is the one generated step whose action is known (the real a_t),
so it judges the world model alone. For the same start rows this module compares the model's
first generated state and reward with one simulator step (simcheck.py) and reports:

- velocity_r2: R² of the model's velocity change against the simulator's (clipped rows left
  out and counted), with its floor: the same R² of a random action's simulated step;
- action_sensitivity: how far ŝ_{t+1} moves when a_t is replaced by another row's action,
  divided by how far the simulator's s_{t+1} moves (1 = the model follows the action as much
  as physics does; 0 = it ignores it), over velocity dimensions in units of the real data's
  state-change spread;
- reward_r2: R² of r̂_t against the simulator's reward for (s_t, a_t), normalized by the real
  rewards' variance, with its random-action floor;
- reward_change_r2: R² of how r̂_t changes when a_t is replaced by another row's action
  against how the simulator's reward changes. Where the one-step reward hardly depends on
  the action (hopper, walker2d: a random action still scores ~0.99 reward_r2) only this one
  can fail: a model that ignores a_t scores ≤ 0, the simulator 1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dawm_pipeline.simcheck import SimScale, clipped_rows, r2, simulate
from dawm_pipeline.tasks import Task

StepZero = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(states s_t, actions a_t) -> (ŝ_{t+1}, r̂_t): the model's first generated step, sampled
from the same initial noise on every call so only the inputs differ."""


def step_zero_fidelity(
    task: Task,
    step_zero: StepZero,
    states: np.ndarray,
    actions: np.ndarray,
    scale: SimScale,
    reward_var: float,
    seed: int = 0,
) -> dict[str, float]:
    """Every step-0 metric of the module docstring on these start rows."""
    rng = np.random.default_rng(seed)
    bot = task.robot
    other = actions[rng.permutation(len(actions))]
    random = rng.uniform(-bot.action_bound, bot.action_bound, actions.shape).astype(np.float32)
    gen_next, gen_reward = step_zero(states, actions)
    gen_other, gen_other_reward = step_zero(states, other)
    sim_next, sim_reward = simulate(task, states, actions, seed)
    sim_other, sim_other_reward = simulate(task, states, other, seed)
    rand_next, rand_reward = simulate(task, states, random, seed)

    lo, hi = bot.simulator.velocity_dims
    keep = ~clipped_rows(task, states, sim_next, sim_other)
    var = scale.delta_var[lo:hi]

    def velocity_r2(predicted: np.ndarray) -> float:
        return r2((sim_next - states)[keep, lo:hi], (predicted - states)[keep, lo:hi], var)

    def moved(a: np.ndarray, b: np.ndarray) -> float:
        d = (a - b)[keep, lo:hi] / np.sqrt(np.maximum(var, 1e-8))
        return float(np.sqrt((d**2).mean()))

    sim_moved = moved(sim_other, sim_next)
    reward_scale = np.full(1, max(reward_var, 1e-8))
    sim_change = (sim_reward - sim_other_reward)[:, None]
    gen_change = (gen_reward - gen_other_reward)[:, None]
    return {
        "velocity_r2": velocity_r2(gen_next),
        "velocity_r2_random_action": velocity_r2(rand_next),
        "action_sensitivity": moved(gen_other, gen_next) / sim_moved if sim_moved else np.nan,
        "reward_r2": r2(sim_reward[:, None], gen_reward[:, None], reward_scale),
        "reward_r2_random_action": r2(sim_reward[:, None], rand_reward[:, None], reward_scale),
        "reward_change_r2": r2(sim_change, gen_change, sim_change.var(0)),
        "n": len(states),
        "n_clipped": int((~keep).sum()),
    }
