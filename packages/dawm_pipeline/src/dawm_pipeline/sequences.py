"""Episodes, returns-to-go and the world model's (x, context, guide) training windows.

The x layout is fixed by docs/engine_contract.md, "DAWM layout": with horizon H a window has
H + 1 tokens, token j = [s_{t+j}, r_{t+j-1}] for j >= 1 and token 0 = [s_t, 0] (inpainted at
sampling); context = [s_t, a_t]; guide = [R_tg], the discounted return-to-go from t divided by
the per-robot scale. With action tokens (`TokenLayout.actions`, DWM arXiv 2402.03570's
conditioning) every token also carries the action taken from its state,
token j = [s_{t+j}, a_{t+j}, r_{t+j-1}], and token 0 = [s_t, a_t, 0] is inpainted, so a_t sits
beside s_t in the sequence the convolutions see instead of only in the global embedding.
Windows never cross an episode boundary; past a termination they may run into an absorbing
state (`WorldModelSettings.past_terminal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dawm_pipeline.data.dataset import OfflineDataset


def returns_to_go(rewards: np.ndarray, bounds: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted return-to-go sum_{k >= t} gamma^(k-t) r_k within each episode."""
    rtg = np.zeros(len(rewards), np.float64)
    for s, e in bounds:
        acc = 0.0
        for i in range(e - 1, s - 1, -1):
            acc = rewards[i] + gamma * acc
            rtg[i] = acc
    return rtg.astype(np.float32)


def sequence_length(horizon: int) -> int:
    """The world model's sequence length for H generated steps: token 0 holds s_t, so H + 1.

    The one place the pipeline converts H to a length; diffusion_wm and the native engine
    only ever see the length.
    """
    return horizon + 1


@dataclass(frozen=True)
class TokenLayout:
    """Columns of one token of x: the state, the action (with action tokens), the reward."""

    obs_dim: int
    act_dim: int
    actions: bool = False

    @property
    def x_dim(self) -> int:
        return self.obs_dim + (self.act_dim if self.actions else 0) + 1

    @property
    def action_col(self) -> int | None:
        return self.obs_dim if self.actions else None

    @property
    def reward_col(self) -> int:
        return self.x_dim - 1

    def rows_needed(self, horizon: int) -> int:
        """Real rows a window reads: H steps, plus a_{t+H} in the last token with actions."""
        return horizon + 1 if self.actions else horizon

    def build_x(
        self,
        data: OfflineDataset,
        starts: np.ndarray,
        horizon: int,
        ends: np.ndarray | None = None,
    ) -> np.ndarray:
        """x (N, H + 1, x_dim) for the given window starts (layout in the module doc).

        `ends` (each start's episode end) lets windows run past a terminated episode's end:
        those tokens repeat its last next state (the fallen one) with reward 0 and, with
        action tokens, action 0."""
        d, a = self.obs_dim, self.act_dim
        x = np.zeros((len(starts), sequence_length(horizon), self.x_dim), np.float32)
        x[:, 0, :d] = data.observations[starts]

        def read(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """(rows to read, whether each is inside its episode): past the end, its last row."""
            if ends is None:
                return rows, np.ones(len(rows), bool)
            return np.minimum(rows, ends - 1), rows < ends

        for j in range(1, horizon + 1):
            rows, inside = read(starts + j - 1)
            x[:, j, :d] = data.next_observations[rows]
            x[:, j, self.reward_col] = np.where(inside, data.rewards[rows], 0)
        if self.actions:
            for j in range(horizon + 1):
                rows, inside = read(starts + j)
                x[:, j, d : d + a] = np.where(inside[:, None], data.actions[rows], 0)
        return x

    def inpaint(
        self, states: np.ndarray, actions: np.ndarray, length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(mask (L, x_dim), values (B, L, x_dim)): token 0 known, [s_t, (a_t,) 0]."""
        mask = np.zeros((length, self.x_dim), bool)
        mask[0] = True
        values = np.zeros((len(states), length, self.x_dim), np.float32)
        values[:, 0, : self.obs_dim] = states
        if self.actions:
            values[:, 0, self.obs_dim : self.obs_dim + self.act_dim] = actions
        return mask, values


def window_starts(bounds: np.ndarray, rows: int, absorbing: np.ndarray | None = None) -> np.ndarray:
    """Row indices t whose `rows` rows t..t+rows-1 stay inside the episode (t + rows <= end);
    in episodes flagged in `absorbing` (one bool per episode: it ended in a termination) every
    row starts a window, the rows past the end being the absorbing state (TokenLayout.build_x)."""
    flags = np.zeros(len(bounds), bool) if absorbing is None else absorbing
    parts = [
        np.arange(s, e if flag else e - rows + 1)
        for (s, e), flag in zip(bounds, flags, strict=True)
        if flag or e - s >= rows
    ]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def episode_ends(bounds: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The end (exclusive) of the episode each start row lies in."""
    return bounds[np.searchsorted(bounds[:, 1], starts, side="right"), 1]


def build_conditions(
    data: OfflineDataset, starts: np.ndarray, rtg: np.ndarray, rtg_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """context [s_t, a_t] (N, obs + act) and guide [R_tg / scale] (N, 1)."""
    context = np.concatenate([data.observations[starts], data.actions[starts]], axis=1)
    guide = (rtg[starts] / rtg_scale).astype(np.float32)[:, None]
    return context.astype(np.float32), guide
