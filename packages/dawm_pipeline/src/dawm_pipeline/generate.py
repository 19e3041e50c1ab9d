"""DAWM generation: from real (s_t, a_t, R_tg) to H synthetic transitions per rollout.

Layout and IDM windows follow docs/engine_contract.md, "DAWM layout": the world model samples
x (B, H + 1, obs_dim + 1) with token 0 = [s_t, 0] inpainted, giving ŝ_{t+1..t+H} and
r̂_{t..t+H-1}; â_t is the real a_t and â_{t+i} (i = 1..H-1) is the IDM's mean action on
[ŝ_{t+i-m}, ..., ŝ_{t+i}, ŝ_{t+i+1}] (history before t repeats s_t). The initial noise x_K is
drawn here from the seed, so the PyTorch path and the native engine sample the same rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusion_wm import SamplingConfig

from dawm_pipeline.sequences import TokenLayout
from dawm_pipeline.tasks import Robot

AT_BOUND_TOLERANCE = 1e-3  # of the action box's width


@dataclass(frozen=True)
class Rollouts:
    """Raw-unit outputs: states ŝ_{t+1..t+H} (B, H, obs), rewards (B, H), actions (B, H, act)."""

    states: np.ndarray
    rewards: np.ndarray
    actions: np.ndarray


def initial_noise(seed: int, chunk: int, n: int, length: int, x_dim: int) -> np.ndarray:
    """x_K ~ N(0, I) for chunk `chunk` of a generation run, a pure function of (seed, chunk)."""
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(chunk))
    return torch.randn((n, length, x_dim), generator=gen).numpy()


def idm_windows(start: np.ndarray, states: np.ndarray, history: int) -> np.ndarray:
    """IDM windows for steps 1..H-1: (B, H-1, m + 2, obs), over [s_t, ŝ_{t+1..t+H}]."""
    seq = np.concatenate([start[:, None], states], axis=1)  # (B, H + 1, obs)
    padded = np.concatenate([np.repeat(seq[:, :1], history, axis=1), seq], axis=1)
    horizon = states.shape[1]
    # Step i's window covers seq[i - m .. i + 1] = padded[i .. i + m + 1].
    index = np.arange(1, horizon)[:, None] + np.arange(history + 2)[None, :]
    return padded[:, index]


def torch_generate(
    wm,
    idm,
    states,
    actions,
    guide,
    noise: np.ndarray,
    sampling: SamplingConfig,
    layout: TokenLayout,
) -> Rollouts:
    """The PyTorch reference path (diffusion_wm.sample + inverse_dynamics.predict)."""
    b, length, _ = noise.shape
    obs_dim = states.shape[1]
    x = wm.sample(
        np.concatenate([states, actions], axis=1),
        guide,
        noise=noise,
        inpaint=layout.inpaint(states, actions, length),
        sampling=sampling,
    )
    gen_states, rewards = x[:, 1:, :obs_dim], x[:, 1:, layout.reward_col]
    horizon = length - 1
    acts = np.empty((b, horizon, actions.shape[1]), np.float32)
    acts[:, 0] = actions
    if horizon > 1:
        windows = idm_windows(states, gen_states, idm.config.history)
        flat = windows.reshape(-1, *windows.shape[2:])
        acts[:, 1:] = idm.predict(flat).reshape(b, horizon - 1, -1)
    return Rollouts(gen_states, rewards, acts)


def native_engine(wm, idm, sampling: SamplingConfig, layout: TokenLayout, device: str = "cpu"):
    """A dawm_kernels engine built from the two models' exports, with the same token layout
    and sampling settings the PyTorch path gets."""
    import dawm_kernels

    return dawm_kernels.Engine.from_exports(
        wm.export(sampling),
        idm.export(),
        device=device,
        layout=dawm_kernels.Layout(reward_col=layout.reward_col, action_col=layout.action_col),
        threads=torch.get_num_threads(),
    )


def native_generate(engine, states, actions, guide, noise: np.ndarray) -> Rollouts:
    """The fused native path: same inputs and noise as `torch_generate`, same outputs."""
    c = np.ascontiguousarray
    gen_states, rewards, acts = engine.generate(
        c(states, np.float32),
        c(actions, np.float32),
        c(guide, np.float32),
        noise=c(noise, np.float32),
    )
    return Rollouts(
        np.asarray(gen_states, np.float32),
        np.asarray(rewards, np.float32),
        np.asarray(acts, np.float32),
    )


def at_action_bound(
    actions: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    tolerance: float = AT_BOUND_TOLERANCE,
) -> np.ndarray:
    """Which actions (..., act_dim) sit at a bound of the action box [low, high] in any
    dimension, within `tolerance` of the box's width. The IDM's mean action is clipped to the
    box, so an inferred action lands there when the state change asks for at least what the
    actuators can give."""
    tol = tolerance * (np.asarray(high) - np.asarray(low))
    return ((actions <= low + tol) | (actions >= high - tol)).any(-1)


def inferred_at_bound(actions: np.ndarray, steps: np.ndarray, low, high) -> np.ndarray:
    """`at_action_bound` for the IDM's actions only: step 0 carries the real a_t."""
    return at_action_bound(actions, low, high) & (steps > 0)


def to_transitions(
    robot: Robot,
    start: np.ndarray,
    rollouts: Rollouts,
    guide: np.ndarray,
    action_low: np.ndarray,
    action_high: np.ndarray,
) -> dict[str, np.ndarray]:
    """Flatten rollouts into transitions (ŝ_i, â_i, r̂_i, ŝ_{i+1}), i = 0..H-1, ŝ_0 = s_t.

    A transition is terminal when ŝ_{i+1} fails the robot's health check (`Robot.healthy`); the
    steps after a rollout's first terminal are dropped (the real env would have ended there).
    `step` (i) and `guide` (the rollout's normalized R_tg) are kept for the report, and
    `at_bound` marks IDM-inferred actions (steps i >= 1) at the action box's bound.
    """
    b, horizon, _ = rollouts.states.shape
    obs = np.concatenate([start[:, None], rollouts.states[:, :-1]], axis=1)
    terminal = robot.terminal_flags(rollouts.states)
    before = np.cumsum(terminal, axis=1) - terminal  # terminals strictly before step i
    keep = before == 0
    steps = np.broadcast_to(np.arange(horizon), (b, horizon))[keep].astype(np.int16)
    actions = rollouts.actions[keep]
    return {
        "observations": obs[keep],
        "actions": actions,
        "rewards": rollouts.rewards[keep],
        "next_observations": rollouts.states[keep],
        "terminals": terminal[keep],
        "step": steps,
        "guide": np.broadcast_to(np.asarray(guide, np.float32)[:, None], (b, horizon))[keep],
        "at_bound": inferred_at_bound(actions, steps, action_low, action_high),
    }
