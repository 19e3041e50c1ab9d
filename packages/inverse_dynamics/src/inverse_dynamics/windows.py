"""Episode data → IDM training windows (s_{t-m..t-1}, s_t, s_{t+1}) → a_t."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inverse_dynamics.validation import check_finite

Episode = tuple[np.ndarray, np.ndarray]
"""(observations (T+1, obs_dim) including the final state, actions (T, act_dim))."""


def make_windows(episodes: Sequence[Episode], history: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack every transition's state window and action, never crossing an episode boundary.

    Window for step t: [s_{t-m}, ..., s_{t-1}, s_t, s_{t+1}]; history states before the
    episode's start are padded by repeating its first state (DESIGN.md, inverse_dynamics).
    Returns windows (N, m+2, obs_dim) and actions (N, act_dim), float32.
    """
    if history < 0:
        raise ValueError(f"make_windows: history must be >= 0, got {history}")
    if len(episodes) == 0:
        raise ValueError(
            "make_windows: no episodes given; pass at least one (observations, actions)"
        )
    obs_dim = act_dim = None
    all_windows, all_actions = [], []
    for i, (obs, act) in enumerate(episodes):
        obs = np.asarray(obs, dtype=np.float32)
        act = np.asarray(act, dtype=np.float32)
        if obs.ndim != 2 or act.ndim != 2:
            raise ValueError(
                f"make_windows: episode {i} needs observations (T+1, obs_dim) and actions "
                f"(T, act_dim), got shapes {obs.shape} and {act.shape}"
            )
        if obs.shape[0] != act.shape[0] + 1:
            raise ValueError(
                f"make_windows: episode {i} has {obs.shape[0]} observations for {act.shape[0]} "
                "actions; include the final observation (T+1 rows for T actions)"
            )
        obs_dim = obs_dim or obs.shape[1]
        act_dim = act_dim or act.shape[1]
        if obs.shape[1] != obs_dim or act.shape[1] != act_dim:
            raise ValueError(
                f"make_windows: episode {i} has obs/act dims {obs.shape[1]}/{act.shape[1]}, "
                f"episode 0 had {obs_dim}/{act_dim}"
            )
        check_finite(obs, f"episode {i} observations")
        check_finite(act, f"episode {i} actions")
        steps = act.shape[0]
        if steps == 0:
            continue
        padded = np.concatenate([np.repeat(obs[:1], history, axis=0), obs], axis=0)
        # Row t of `index` selects padded rows t .. t+m+1, i.e. s_{t-m} .. s_{t+1}.
        index = np.arange(steps)[:, None] + np.arange(history + 2)[None, :]
        all_windows.append(padded[index])
        all_actions.append(act)
    if not all_windows:
        raise ValueError("make_windows: every episode is empty (0 actions); nothing to learn from")
    return np.concatenate(all_windows), np.concatenate(all_actions)


def episodes_from_arrays(
    observations: np.ndarray,
    actions: np.ndarray,
    episode_ends: np.ndarray,
    next_observations: np.ndarray | None = None,
) -> list[Episode]:
    """Split flat transition arrays into episodes.

    `episode_ends` marks the last row of each episode (bool per row). With
    `next_observations`, an episode of T rows yields T transitions (its final state taken
    from next_observations); without, consecutive observations are the successors and an
    episode of T rows yields T-1 transitions.
    """
    observations = np.asarray(observations)
    actions = np.asarray(actions)
    ends = np.asarray(episode_ends, dtype=bool).reshape(-1)
    n = observations.shape[0]
    if actions.shape[0] != n or ends.shape[0] != n:
        raise ValueError(
            f"episodes_from_arrays: observations ({n}), actions ({actions.shape[0]}) and "
            f"episode ends ({ends.shape[0]}) must have the same number of rows"
        )
    if next_observations is not None and np.asarray(next_observations).shape != observations.shape:
        raise ValueError(
            "episodes_from_arrays: next_observations must have the shape of observations, got "
            f"{np.asarray(next_observations).shape} vs {observations.shape}"
        )
    if n and not ends[-1]:
        ends = ends.copy()
        ends[-1] = True  # the data stops mid-episode: close the last one there
    starts = np.concatenate([[0], np.flatnonzero(ends)[:-1] + 1]) if n else np.array([], int)
    stops = np.flatnonzero(ends) + 1
    episodes: list[Episode] = []
    for s, e in zip(starts, stops, strict=True):
        if next_observations is not None:
            obs = np.concatenate([observations[s:e], np.asarray(next_observations)[e - 1 : e]])
            episodes.append((obs, actions[s:e]))
        elif e - s >= 2:
            episodes.append((observations[s:e], actions[s : e - 1]))
    return episodes
