"""Episodes, returns-to-go and the world model's (x, context, guide) training windows.

The x layout is fixed by docs/engine_contract.md, "DAWM layout": with horizon H a window has
H + 1 tokens, token j = [s_{t+j}, r_{t+j-1}] for j >= 1 and token 0 = [s_t, 0] (inpainted at
sampling); context = [s_t, a_t]; guide = [R_tg], the discounted return-to-go from t divided by
the per-robot scale. Windows never cross an episode boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Transitions:
    """Flat transition arrays plus episode bounds [start, end) over the rows."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray
    bounds: np.ndarray  # (E, 2) int64

    @property
    def obs_dim(self) -> int:
        return self.observations.shape[1]

    @property
    def act_dim(self) -> int:
        return self.actions.shape[1]

    def __len__(self) -> int:
        return len(self.rewards)

    def select(self, episodes: np.ndarray) -> Transitions:
        """The sub-dataset made of the given episode indices (in that order)."""
        rows = (
            np.concatenate([np.arange(*self.bounds[e]) for e in episodes])
            if len(episodes)
            else np.zeros(0, np.int64)
        )
        lengths = self.bounds[episodes, 1] - self.bounds[episodes, 0]
        ends = np.cumsum(lengths)
        bounds = np.stack([ends - lengths, ends], axis=1).astype(np.int64)
        return Transitions(
            self.observations[rows],
            self.actions[rows],
            self.rewards[rows],
            self.next_observations[rows],
            self.terminals[rows],
            self.timeouts[rows],
            bounds,
        )

    def episode_states(self) -> list[np.ndarray]:
        """Per episode the T + 1 states s_0..s_T (the last one is the final next state)."""
        return [
            np.concatenate([self.observations[s:e], self.next_observations[e - 1 : e]])
            for s, e in self.bounds
        ]

    def episode_returns(self) -> np.ndarray:
        return np.array([self.rewards[s:e].sum() for s, e in self.bounds])


def from_dataset(ds) -> Transitions:
    """Flatten an OfflineDataset (or anything with its arrays) and find its episodes.

    Episodes come from `episode_lengths` when the dataset has them; otherwise an episode ends at
    a terminal, a timeout, the last row, or wherever the next row does not start from this
    row's next observation (datasets that drop the timeout flag).
    """
    obs = np.asarray(ds.observations, np.float32)
    nxt = np.asarray(ds.next_observations, np.float32)
    term = np.asarray(ds.terminals, bool).reshape(-1)
    tout = np.asarray(ds.timeouts, bool).reshape(-1)
    n = len(obs)
    if n == 0:
        raise ValueError("the dataset is empty: nothing to train on")
    lengths = getattr(ds, "episode_lengths", None)
    if lengths is not None:
        ends = np.cumsum(np.asarray(lengths, np.int64))
    else:
        cut = term | tout
        cut[:-1] |= np.any(nxt[:-1] != obs[1:], axis=1)
        cut[-1] = True
        ends = np.flatnonzero(cut) + 1
    starts = np.concatenate([[0], ends[:-1]])
    return Transitions(
        obs,
        np.asarray(ds.actions, np.float32),
        np.asarray(ds.rewards, np.float32).reshape(-1),
        nxt,
        term,
        tout,
        np.stack([starts, ends], axis=1).astype(np.int64),
    )


def returns_to_go(rewards: np.ndarray, bounds: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted return-to-go sum_{k >= t} gamma^(k-t) r_k within each episode."""
    rtg = np.zeros(len(rewards), np.float64)
    for s, e in bounds:
        acc = 0.0
        for i in range(e - 1, s - 1, -1):
            acc = rewards[i] + gamma * acc
            rtg[i] = acc
    return rtg.astype(np.float32)


def window_starts(bounds: np.ndarray, horizon: int) -> np.ndarray:
    """Row indices t whose H following steps stay inside the episode (t + H <= end)."""
    parts = [np.arange(s, e - horizon + 1) for s, e in bounds if e - s >= horizon]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def build_x(data: Transitions, starts: np.ndarray, horizon: int) -> np.ndarray:
    """x (N, H + 1, obs_dim + 1) for the given window starts (layout in the module doc)."""
    n, d = len(starts), data.obs_dim
    x = np.zeros((n, horizon + 1, d + 1), np.float32)
    x[:, 0, :d] = data.observations[starts]
    for j in range(1, horizon + 1):
        rows = starts + j - 1
        x[:, j, :d] = data.next_observations[rows]
        x[:, j, d] = data.rewards[rows]
    return x


def build_conditions(
    data: Transitions, starts: np.ndarray, rtg: np.ndarray, rtg_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """context [s_t, a_t] (N, obs + act) and guide [R_tg / scale] (N, 1)."""
    context = np.concatenate([data.observations[starts], data.actions[starts]], axis=1)
    guide = (rtg[starts] / rtg_scale).astype(np.float32)[:, None]
    return context.astype(np.float32), guide


def inpaint_mask(horizon: int, obs_dim: int) -> np.ndarray:
    """Token 0 entirely known (the real s_t and a zero reward slot)."""
    mask = np.zeros((horizon + 1, obs_dim + 1), bool)
    mask[0] = True
    return mask
