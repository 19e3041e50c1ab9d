"""`OfflineDataset`: episodes as flat numpy arrays plus the metadata evaluation needs.

Transitions of all episodes are concatenated (D4RL's layout) with `episode_lengths`
marking the boundaries, so training code can sample flat batches while windowed models
(world model, inverse dynamics) take `episodes()`. `terminals` are true environment
terminations (never bootstrap through them); `timeouts` are truncations (time limit or a
cut episode: always bootstrap through them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from dawm_pipeline.tasks import normalized_score

ARRAY_FIELDS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
SOURCES = ("minari", "d4rl", "bundled")
SOURCE_LABELS = {
    "minari": "Minari (Farama's port of D4RL)",
    "d4rl": "D4RL hdf5 file",
    "bundled": "dawm bundled (this project's own recipe on Gymnasium v5, not D4RL)",
}


@dataclass(frozen=True)
class Episode:
    """One episode's transitions (views into the dataset's flat arrays)."""

    observations: np.ndarray  # (T, obs_dim) float32
    actions: np.ndarray  # (T, act_dim) float32
    rewards: np.ndarray  # (T,) float32
    next_observations: np.ndarray  # (T, obs_dim) float32
    terminals: np.ndarray  # (T,) bool
    timeouts: np.ndarray  # (T,) bool

    def __len__(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def episode_return(self) -> float:
        return float(self.rewards.sum(dtype=np.float64))


@dataclass
class DatasetInfo:
    """Where a dataset came from and how to evaluate policies trained on it."""

    name: str  # e.g. "hopper-medium-replay"
    source: str  # "minari" | "d4rl" | "bundled"
    dataset_id: str  # Minari id or file path
    env_id: str  # Gymnasium id for evaluation, e.g. "Hopper-v5"
    action_low: np.ndarray
    action_high: np.ndarray
    ref_min_score: float
    ref_max_score: float
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def source_label(self) -> str:
        """Where the data came from; a stochastic dataset's label also says so."""
        dynamics = self.extra.get("dynamics")
        return SOURCE_LABELS[self.source] + (f", {dynamics}" if dynamics else "")


@dataclass
class OfflineDataset:
    """Concatenated transitions of whole episodes plus `info`; see the module docstring."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray
    episode_lengths: np.ndarray  # (num_episodes,) int64, sums to num_transitions
    info: DatasetInfo

    @classmethod
    def from_episodes(cls, episodes: list[Episode], info: DatasetInfo) -> OfflineDataset:
        """Concatenate episodes (cast to float32 / bool)."""
        if not episodes:
            raise ValueError(f"dataset {info.name!r} ({info.dataset_id}) has no episodes")
        cat = {
            k: np.concatenate([getattr(e, k) for e in episodes]).astype(
                bool if k in ("terminals", "timeouts") else np.float32, copy=False
            )
            for k in ARRAY_FIELDS
        }
        lengths = np.array([len(e) for e in episodes], dtype=np.int64)
        return cls(**cat, episode_lengths=lengths, info=info)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def source(self) -> str:
        return self.info.source

    @property
    def env_id(self) -> str:
        return self.info.env_id

    @property
    def obs_dim(self) -> int:
        return int(self.observations.shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.actions.shape[1])

    @property
    def num_transitions(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def num_episodes(self) -> int:
        return int(self.episode_lengths.shape[0])

    def __len__(self) -> int:
        return self.num_transitions

    @property
    def episode_starts(self) -> np.ndarray:
        """Index of each episode's first transition in the flat arrays."""
        return np.concatenate([[0], np.cumsum(self.episode_lengths)[:-1]]).astype(np.int64)

    @property
    def bounds(self) -> np.ndarray:
        """(num_episodes, 2) int64 [start, end) row range of each episode."""
        starts = self.episode_starts
        return np.stack([starts, starts + self.episode_lengths], axis=1).astype(np.int64)

    def select(self, episodes: np.ndarray) -> OfflineDataset:
        """The dataset made of the given episode indices, in that order (same info)."""
        episodes = np.asarray(episodes, np.int64)
        bounds = self.bounds[episodes]
        rows = (
            np.concatenate([np.arange(s, e) for s, e in bounds])
            if len(bounds)
            else np.zeros(0, np.int64)
        )
        arrays = {k: getattr(self, k)[rows] for k in ARRAY_FIELDS}
        return OfflineDataset(
            **arrays, episode_lengths=self.episode_lengths[episodes].copy(), info=self.info
        )

    def episode_states(self) -> list[np.ndarray]:
        """Per episode the T + 1 states s_0..s_T (the last one is the final next state)."""
        return [
            np.concatenate([self.observations[s:e], self.next_observations[e - 1 : e]])
            for s, e in self.bounds
        ]

    def episode(self, i: int) -> Episode:
        start = int(self.episode_starts[i])
        sl = slice(start, start + int(self.episode_lengths[i]))
        return Episode(**{k: getattr(self, k)[sl] for k in ARRAY_FIELDS})

    def episodes(self) -> Iterator[Episode]:
        """Each episode in order, as views (no copies)."""
        for i in range(self.num_episodes):
            yield self.episode(i)

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of each episode (float64)."""
        return np.add.reduceat(self.rewards.astype(np.float64), self.episode_starts)

    def normalized_score(self, returns: float | np.ndarray) -> float | np.ndarray:
        """D4RL normalized score of returns on this dataset's task."""
        return normalized_score(self.name, returns)

    @property
    def fingerprint(self) -> str:
        """sha256 over the arrays (dtype, shape and bytes), in a fixed order."""
        h = hashlib.sha256()
        for k in (*ARRAY_FIELDS, "episode_lengths"):
            a = np.ascontiguousarray(getattr(self, k))
            h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    def summary(self) -> dict[str, object]:
        """Sizes and returns, JSON-ready (the figures docs/datasets.md reports)."""
        r = self.episode_returns()
        return {
            "name": self.name,
            "source": self.source,
            "source_label": self.info.source_label,
            "dataset_id": self.info.dataset_id,
            "env_id": self.env_id,
            "transitions": self.num_transitions,
            "episodes": self.num_episodes,
            "terminals": int(self.terminals.sum()),
            "timeouts": int(self.timeouts.sum()),
            "return_mean": float(r.mean()),
            "return_std": float(r.std()),
            "return_min": float(r.min()),
            "return_max": float(r.max()),
            "normalized_mean": float(self.normalized_score(r.mean())),
            "fingerprint": self.fingerprint,
        }

    def __repr__(self) -> str:
        r = self.episode_returns()
        return (
            f"OfflineDataset({self.name!r}, source={self.info.source_label}, "
            f"id={self.info.dataset_id!r}, env={self.env_id}, transitions={self.num_transitions}, "
            f"episodes={self.num_episodes}, obs_dim={self.obs_dim}, act_dim={self.act_dim}, "
            f"return_mean={r.mean():.1f} (normalized {self.normalized_score(r.mean()):.1f}), "
            f"fingerprint={self.fingerprint[:12]})"
        )
