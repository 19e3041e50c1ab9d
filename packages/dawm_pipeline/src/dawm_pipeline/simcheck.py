"""Check inferred actions in the simulator: set the state from an observation, step, compare.

A generated state has no true action, so the IDM's action is judged by what it does: MuJoCo is
put in the state the observation describes and stepped with the action, and the resulting
observation is compared with the generated next state. Gymnasium's v5 locomotion observations
are qpos[1:] then qvel (clipped to +-10) and exclude the x position, which none of the dynamics
depend on, so x is set to 0. The score is the R² of the state change s' - s, normalized by the
per-dimension variance of the real data's state changes, so real and generated sets are on one
scale. Mismatches come from the IDM and from any non-physical world-model step alike.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

GYM_IDS = {"hopper": "Hopper-v5", "walker2d": "Walker2d-v5", "halfcheetah": "HalfCheetah-v5"}


class Simulator:
    """A Gymnasium v5 MuJoCo env that can be set to an observation and stepped once."""

    def __init__(self, robot: str, seed: int = 0):
        if robot not in GYM_IDS:
            raise ValueError(f"no simulator for {robot!r}: use one of {', '.join(GYM_IDS)}")
        self.env = gym.make(GYM_IDS[robot])
        self.env.reset(seed=seed)
        self.raw = self.env.unwrapped
        self.nq = self.raw.model.nq
        self.nv = self.raw.model.nv

    def set_obs(self, obs: np.ndarray) -> None:
        """Set qpos = [0, obs[:nq-1]] (x = 0) and qvel = obs[nq-1:]."""
        obs = np.asarray(obs, np.float64)
        if obs.shape != (self.nq - 1 + self.nv,):
            raise ValueError(
                f"observation of size {obs.size} does not fit nq={self.nq}, nv={self.nv}"
            )
        qpos = np.concatenate([[0.0], obs[: self.nq - 1]])
        self.raw.set_state(qpos, obs[self.nq - 1 :])

    def step_from(self, obs: np.ndarray, action: np.ndarray) -> np.ndarray:
        """The observation after one env step from `obs` with `action`."""
        self.set_obs(obs)
        nxt, *_ = self.env.step(np.asarray(action, np.float32))
        return np.asarray(nxt, np.float32)

    def close(self) -> None:
        self.env.close()


def simulate(robot: str, obs: np.ndarray, actions: np.ndarray, seed: int = 0) -> np.ndarray:
    """Next observation of one simulator step for each (obs, action) row."""
    sim = Simulator(robot, seed)
    try:
        return np.stack([sim.step_from(o, a) for o, a in zip(obs, actions, strict=True)])
    finally:
        sim.close()


def delta_r2(
    obs: np.ndarray, target_next: np.ndarray, sim_next: np.ndarray, delta_var: np.ndarray
) -> float:
    """Mean over dimensions of 1 - SSE / (N var) of the state change, var from real data."""
    err = ((sim_next - obs) - (target_next - obs)) ** 2
    per_dim = 1.0 - err.mean(axis=0) / np.maximum(delta_var, 1e-8)
    return float(per_dim.mean())


def consistency(
    robot: str,
    obs: np.ndarray,
    actions: np.ndarray,
    target_next: np.ndarray,
    delta_var: np.ndarray,
    seed: int = 0,
) -> dict[str, float]:
    """Simulate every row and score how well it reproduces `target_next`."""
    sim_next = simulate(robot, obs, actions, seed)
    return {
        "delta_r2": delta_r2(obs, target_next, sim_next, delta_var),
        "next_state_rmse": float(np.sqrt(((sim_next - target_next) ** 2).mean())),
        "n": len(obs),
    }
