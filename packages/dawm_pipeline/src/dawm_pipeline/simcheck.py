"""Check transitions in the simulator: set the state from an observation, step, compare.

A generated state has no true action, so an action (the real one at step 0, the IDM's later)
is judged by what it does: MuJoCo is put in the state the observation describes (the robot's
`SimulatorSpec.set_state`) and stepped with the action, and the resulting observation is
compared with the generated next state. Stochastic tasks are replayed in their stochastic env
(task.gym_id), so the replay has the same heavier body and action noise as the data.

Scores (R² normalized by the real data's per-dimension variance, so real and generated sets
share one scale):
- delta_r2: R² of the state change s' − s over every dimension (positions barely move in one
  step, so this is lenient about actions);
- velocity_r2: R² of the velocity change v' − v only, the part of the state an action moves
  within one step (the strict score; random actions score far below 0); rows whose observed
  velocities sit at the env's clip (Hopper/Walker2d v5 clip to ±10) are left out and counted,
  since the simulator cannot be started from a clipped state;
- state_r2 (R² of s') and next_state_rmse, for reference.
Every score has a random-action floor (`random_floor`): the same rows stepped with uniform
random actions, which any useful action must beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from dawm_pipeline.tasks import Task

CLIP_MARGIN = 1e-3  # a velocity within this of the clip counts as clipped


@dataclass(frozen=True)
class SimScale:
    """Per-dimension variances of the real data: next states and state changes s' - s."""

    state_var: np.ndarray
    delta_var: np.ndarray

    @classmethod
    def of(cls, observations: np.ndarray, next_observations: np.ndarray) -> SimScale:
        return cls(next_observations.var(axis=0), (next_observations - observations).var(axis=0))


class Simulator:
    """The task's Gymnasium env, set to an observation and stepped once."""

    def __init__(self, task: Task, seed: int = 0):
        self.spec = task.robot.simulator
        self.env = gym.make(task.gym_id)
        self.env.reset(seed=seed)
        self.raw = self.env.unwrapped

    def step_from(self, obs: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, float]:
        """The observation and reward after one env step from `obs` with `action`."""
        self.spec.set_state(self.raw, obs)
        nxt, reward, *_ = self.env.step(np.asarray(action, np.float32))
        return np.asarray(nxt, np.float32), float(reward)

    def close(self) -> None:
        self.env.close()


def simulate(
    task: Task, obs: np.ndarray, actions: np.ndarray, seed: int = 0, progress: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Next observation (N, obs) and reward (N,) of one simulator step for each row; with a
    `progress` label, a progress bar (3,000-4,000 rows a second on one loaded core here: a
    million rows take about five minutes)."""
    if len(obs) != len(actions):
        raise ValueError(f"simulate: {len(obs)} observations but {len(actions)} actions")
    sim = Simulator(task, seed)
    nxt = np.empty((len(obs), task.robot.obs_dim), np.float32)
    rewards = np.empty(len(obs), np.float32)
    rows = range(len(obs))
    if progress:
        rows = tqdm(rows, desc=progress, unit="step", mininterval=2.0)
    try:
        for i in rows:
            nxt[i], rewards[i] = sim.step_from(obs[i], actions[i])
    finally:
        sim.close()
    return nxt, rewards


def simulator_dynamics(
    task: Task, arrays: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Generated transitions with each row's reward, next state and terminal flag replaced by
    one simulator step from its (s, a), the flag by the robot's health check as in generation:
    the world model then supplies only the states and the IDM the actions. Rows the simulator
    cannot start from (a velocity at the env's clip) keep the model's values; returns the
    arrays and the mask of those rows. The rewards are Gymnasium v5's (the bundled and Minari
    data's): D4RL's v2 hopper and walker2d data pay the healthy bonus on unhealthy steps too."""
    clipped = clipped_rows(task, arrays["observations"])
    rows = np.flatnonzero(~clipped)
    nxt, rewards = simulate(
        task, arrays["observations"][rows], arrays["actions"][rows], progress="simulator dynamics"
    )
    replaced = ("next_observations", "rewards", "terminals")
    out = {k: v.copy() if k in replaced else v for k, v in arrays.items()}
    out["next_observations"][rows] = nxt
    out["rewards"][rows] = rewards
    out["terminals"][rows] = task.robot.terminal_flags(nxt)
    return out, clipped


def r2(target: np.ndarray, predicted: np.ndarray, var: np.ndarray) -> float:
    """Mean over dimensions of 1 - SSE / (N var), with the variance given (from real data)."""
    if len(target) == 0:
        return float("nan")
    per_dim = 1.0 - ((predicted - target) ** 2).mean(axis=0) / np.maximum(var, 1e-8)
    return float(per_dim.mean())


def clipped_rows(task: Task, *observations: np.ndarray) -> np.ndarray:
    """Rows where any given observation has a velocity at the env's clip."""
    spec = task.robot.simulator
    n = len(observations[0])
    if spec.velocity_clip is None:
        return np.zeros(n, bool)
    lo, hi = spec.velocity_dims
    limit = spec.velocity_clip - CLIP_MARGIN
    return np.any([np.any(np.abs(o[:, lo:hi]) >= limit, axis=1) for o in observations], axis=0)


def score(
    task: Task, obs: np.ndarray, sim_next: np.ndarray, target_next: np.ndarray, scale: SimScale
) -> dict[str, float]:
    """Scores of `target_next` against the simulator's `sim_next` for the same rows."""
    lo, hi = task.robot.simulator.velocity_dims
    clipped = clipped_rows(task, obs, target_next)
    keep = ~clipped
    change, sim_change = target_next - obs, sim_next - obs
    return {
        "delta_r2": r2(change, sim_change, scale.delta_var),
        "velocity_r2": r2(change[keep, lo:hi], sim_change[keep, lo:hi], scale.delta_var[lo:hi]),
        "state_r2": r2(target_next, sim_next, scale.state_var),
        "next_state_rmse": float(np.sqrt(((sim_next - target_next) ** 2).mean())),
        "n": len(obs),
        "n_clipped": int(clipped.sum()),
    }


def consistency(
    task: Task,
    obs: np.ndarray,
    actions: np.ndarray,
    target_next: np.ndarray,
    scale: SimScale,
    seed: int = 0,
) -> dict[str, float]:
    """Simulate every row with its action and score how well it reproduces `target_next`."""
    return score(task, obs, simulate(task, obs, actions, seed)[0], target_next, scale)


def random_floor(
    task: Task, obs: np.ndarray, target_next: np.ndarray, scale: SimScale, seed: int = 0
) -> dict[str, float]:
    """The same scores for uniform random actions: the floor any real check must clear."""
    bound = task.robot.action_bound
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-bound, bound, (len(obs), task.robot.act_dim)).astype(np.float32)
    return consistency(task, obs, actions, target_next, scale, seed)
