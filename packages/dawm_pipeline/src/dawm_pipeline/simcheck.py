"""Check inferred actions in the simulator: set the state from an observation, step, compare.

A generated state has no true action, so the IDM's action is judged by what it does: MuJoCo is
put in the state the observation describes and stepped with the action, and the resulting
observation is compared with the generated next state. Gymnasium's v5 locomotion observations
are qpos[1:] then qvel (clipped to +-10) and exclude the x position, which none of the dynamics
depend on, so x is set to 0. The main score is the R² of the state change s' - s, normalized
by the per-dimension variance of the real data's state changes, so real and generated sets are
on one scale (strict: states barely move in one step); the R² of s' itself is reported too. Mismatches come from the IDM and from any non-physical world-model step alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

GYM_IDS = {"hopper": "Hopper-v5", "walker2d": "Walker2d-v5", "halfcheetah": "HalfCheetah-v5"}


@dataclass(frozen=True)
class SimScale:
    """Per-dimension variances of the real data: next states and state changes s' - s."""

    state_var: np.ndarray
    delta_var: np.ndarray

    @classmethod
    def of(cls, observations: np.ndarray, next_observations: np.ndarray) -> SimScale:
        return cls(next_observations.var(axis=0), (next_observations - observations).var(axis=0))


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


def r2(target: np.ndarray, predicted: np.ndarray, var: np.ndarray) -> float:
    """Mean over dimensions of 1 - SSE / (N var), with the variance given (from real data)."""
    per_dim = 1.0 - ((predicted - target) ** 2).mean(axis=0) / np.maximum(var, 1e-8)
    return float(per_dim.mean())


def consistency(
    robot: str,
    obs: np.ndarray,
    actions: np.ndarray,
    target_next: np.ndarray,
    scale: SimScale,
    seed: int = 0,
) -> dict[str, float]:
    """Simulate every row and score how well it reproduces `target_next`.

    delta_r2 (strict): R² of the state change s' - s; state_r2 (lenient): R² of s' itself.
    """
    sim_next = simulate(robot, obs, actions, seed)
    return {
        "delta_r2": r2(target_next - obs, sim_next - obs, scale.delta_var),
        "state_r2": r2(target_next, sim_next, scale.state_var),
        "next_state_rmse": float(np.sqrt(((sim_next - target_next) ** 2).mean())),
        "n": len(obs),
    }
