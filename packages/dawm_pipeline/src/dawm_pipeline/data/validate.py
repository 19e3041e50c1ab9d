"""Checks on flat transition arrays before they become an `OfflineDataset`.

Every failure is one line: which dataset, what is wrong, how to fix it.
"""

from __future__ import annotations

import numpy as np

from dawm_pipeline.tasks import Task


class DatasetError(ValueError):
    """A dataset file or storage entry is unusable (the message says why and what to do)."""


def check_arrays(arrays: dict[str, np.ndarray], name: Task, where: str, fix: str) -> None:
    """Shapes, lengths, dims of the task and finiteness of flat transition arrays."""
    obs_dim, act_dim = name.robot.obs_dim, name.robot.act_dim
    expected = {
        "observations": (2, obs_dim),
        "next_observations": (2, obs_dim),
        "actions": (2, act_dim),
        "rewards": (1, None),
        "terminals": (1, None),
        "timeouts": (1, None),
    }
    n = None
    for key, (ndim, width) in expected.items():
        if key not in arrays:
            raise DatasetError(f"{where}: missing array {key!r}; {fix}")
        a = arrays[key]
        if a.ndim != ndim or (width is not None and a.shape[1] != width):
            want = f"(N, {width})" if width is not None else "(N,)"
            raise DatasetError(
                f"{where}: {key} has shape {a.shape}, expected {want} for {name.robot.name}; {fix}"
            )
        if n is None:
            n = a.shape[0]
        elif a.shape[0] != n:
            raise DatasetError(
                f"{where}: {key} has {a.shape[0]} rows but observations have {n} (truncated or "
                f"mismatched file); {fix}"
            )
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise DatasetError(
                f"{where}: {key} holds {a.dtype} values, not numbers (first row: {a[:1]!r}); {fix}"
            )
        if key in ("terminals", "timeouts"):
            continue
        bad = ~np.isfinite(a)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise DatasetError(
                f"{where}: {key} holds {int(bad.sum())} NaN/inf values (first at row {row}); {fix}"
            )
    if not n:
        raise DatasetError(f"{where}: no transitions; {fix}")
    check_action_bounds(arrays["actions"], name, where, fix)


ACTION_TOLERANCE = 1e-3
"""Actions may exceed the task's bound by this fraction of it (float32 round-off of a tanh
policy's output times the bound); anything more means another action scale or another task."""


def check_action_bounds(actions: np.ndarray, task: Task, where: str, fix: str) -> None:
    """Actions outside the task's [-bound, bound] make every agent's behaviour-cloning term
    and the IDM's targets meaningless without any error downstream: refuse them here."""
    bound = task.robot.action_bound
    out = np.abs(actions) > bound * (1 + ACTION_TOLERANCE)
    rows = np.flatnonzero(out.any(axis=1))
    if rows.size:
        first = rows[0]
        raise DatasetError(
            f"{where}: actions lie outside {task.robot.name}'s action space [-{bound:g}, "
            f"{bound:g}] in {rows.size} rows (first at row {first}: max |a| "
            f"{np.abs(actions[first]).max():.4g}); rescale them to the task's bounds or check "
            f"the file belongs to this task; {fix}"
        )


def episode_lengths(terminals: np.ndarray, timeouts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split flat arrays into episodes at terminals or timeouts.

    Returns (lengths, timeouts'), where a trailing unfinished episode (a dataset cut
    mid-episode, as D4RL's replay datasets are) is closed as a truncation, and a step
    flagged both terminal and timeout counts as terminal.
    """
    term = np.asarray(terminals, dtype=bool)
    tout = np.asarray(timeouts, dtype=bool) & ~term
    if not (term[-1] or tout[-1]):
        tout = tout.copy()
        tout[-1] = True
    ends = np.flatnonzero(term | tout)
    lengths = np.diff(np.concatenate([[-1], ends])).astype(np.int64)
    return lengths, tout
