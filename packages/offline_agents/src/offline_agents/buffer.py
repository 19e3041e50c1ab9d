"""Transitions as plain arrays, and a replay buffer that mixes real and synthetic ones.

The buffer packs every transition into one row of a preallocated float32 tensor
``[obs | next_obs | action | reward | terminal]``: a batch is one ``torch.randint`` per
source plus one ``index_select`` into a reused output tensor, so sampling costs a few
microseconds however many millions of rows the buffer holds, and memory is
``4 · (2·obs_dim + act_dim + 2)`` bytes per transition with no Python object per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch


@dataclass(frozen=True)
class Transitions:
    """(s, a, r, s', terminal) arrays with one row per transition.

    ``terminals`` marks true terminations only (the agent does not bootstrap through
    them). A time-limit truncation is *not* a terminal: give such a row terminal=False,
    so the agent bootstraps through it as the underlying task continues.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminals: np.ndarray

    def __post_init__(self) -> None:
        obs, act = np.asarray(self.observations), np.asarray(self.actions)
        if obs.ndim != 2 or act.ndim != 2:
            raise ValueError(
                f"observations and actions must be 2-D [N, dim] arrays, got shapes "
                f"{obs.shape} and {act.shape}; reshape single vectors with x[None]"
            )
        n = obs.shape[0]
        if n == 0:
            raise ValueError("Transitions is empty: pass at least one transition")
        fields = {
            "actions": (act.shape, (n, act.shape[1])),
            "rewards": (np.shape(self.rewards), (n,)),
            "next_observations": (np.shape(self.next_observations), obs.shape),
            "terminals": (np.shape(self.terminals), (n,)),
        }
        for name, (got, want) in fields.items():
            if tuple(got) != tuple(want):
                raise ValueError(
                    f"{name} has shape {tuple(got)} but observations imply {want}; "
                    "every field needs one row per transition (rewards and terminals 1-D)"
                )
        for name in ("observations", "actions", "rewards", "next_observations"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"{name} contains NaN or inf; clean the data before training")
        term = np.asarray(self.terminals)
        if term.dtype != np.bool_ and not np.all((term == 0) | (term == 1)):
            raise ValueError("terminals must be bool or 0/1; truncations are not terminals")

    def __len__(self) -> int:
        return int(np.shape(self.observations)[0])

    @property
    def obs_dim(self) -> int:
        return int(np.shape(self.observations)[1])

    @property
    def act_dim(self) -> int:
        return int(np.shape(self.actions)[1])


class Batch(NamedTuple):
    """Views into sampled rows (valid until the next ``sample`` into them); a batch of N
    agents' batches has a leading member dim [N, B, ...] on every field."""

    observations: torch.Tensor  # [B, obs_dim]
    next_observations: torch.Tensor  # [B, obs_dim]
    states: torch.Tensor  # [B, 2·obs_dim]: observations and next_observations side by side
    actions: torch.Tensor  # [B, act_dim]
    rewards: torch.Tensor  # [B]
    terminals: torch.Tensor  # [B], 1.0 where the episode truly ended

    @classmethod
    def from_rows(cls, rows: torch.Tensor, obs_dim: int, act_dim: int) -> Batch:
        """The fields of packed rows ``[..., B, obs | next_obs | action | reward | terminal]``."""
        o, a = obs_dim, act_dim
        return cls(
            observations=rows[..., :o],
            next_observations=rows[..., o : 2 * o],
            states=rows[..., : 2 * o],
            actions=rows[..., 2 * o : 2 * o + a],
            rewards=rows[..., 2 * o + a],
            terminals=rows[..., 2 * o + a + 1],
        )


class ReplayBuffer:
    """Real and synthetic transitions in one packed tensor, sampled in one of two modes.

    * ratio mode (``synthetic_ratio`` a float in [0, 1]): every batch holds
      ``round(synthetic_ratio · batch_size)`` synthetic transitions and the rest real ones,
      each drawn uniformly from its own source (d3rlpy's MixedReplayBuffer style), so the
      mix is fixed whatever the two sizes are;
    * all-together mode (``synthetic_ratio=None``): uniform over the union, so the mix
      follows the sizes (SynthER / CleanDiffuser style: synthetic data tops the real up).

    dawm_pipeline's default is the all-together mode (its ``agent.synthetic_fraction`` is
    None: the augmented dataset as a whole, since DAWM states no mix); setting that field
    selects ratio mode. Without synthetic data the buffer samples real transitions only.
    """

    def __init__(
        self,
        real: Transitions,
        synthetic: Transitions | None = None,
        synthetic_ratio: float | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if synthetic is not None and (
            synthetic.obs_dim != real.obs_dim or synthetic.act_dim != real.act_dim
        ):
            raise ValueError(
                f"synthetic transitions have obs/act dims ({synthetic.obs_dim}, "
                f"{synthetic.act_dim}) but real ones ({real.obs_dim}, {real.act_dim}); "
                "generate synthetic data for the same task"
            )
        if synthetic_ratio is not None:
            if not 0.0 <= synthetic_ratio <= 1.0:
                raise ValueError(f"synthetic_ratio must lie in [0, 1], got {synthetic_ratio}")
            if synthetic_ratio > 0.0 and synthetic is None:
                raise ValueError(
                    f"synthetic_ratio={synthetic_ratio} needs synthetic transitions; "
                    "pass synthetic=... or synthetic_ratio=None"
                )
        self.obs_dim, self.act_dim = real.obs_dim, real.act_dim
        self.n_real = len(real)
        self.n_synthetic = 0 if synthetic is None else len(synthetic)
        self.synthetic_ratio = synthetic_ratio
        self.device = torch.device(device)
        width = 2 * self.obs_dim + self.act_dim + 2
        self.data = torch.empty((len(self), width), dtype=torch.float32, device=self.device)
        self._fill(0, real)
        if synthetic is not None:
            self._fill(self.n_real, synthetic)
        self._out: torch.Tensor | None = None
        self._idx: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.n_real + self.n_synthetic

    def _fill(self, start: int, tr: Transitions) -> None:
        """Copy one source into rows [start, start+len) column block by column block."""
        rows = self.data[start : start + len(tr)]
        o, a = self.obs_dim, self.act_dim
        blocks = (
            (0, o, tr.observations),
            (o, 2 * o, tr.next_observations),
            (2 * o, 2 * o + a, tr.actions),
            (2 * o + a, 2 * o + a + 1, np.asarray(tr.rewards).reshape(-1, 1)),
            (2 * o + a + 1, 2 * o + a + 2, np.asarray(tr.terminals).reshape(-1, 1)),
        )
        for lo, hi, arr in blocks:
            # copy_ converts dtype on the fly: no full-size float32 temporary per field
            rows[:, lo:hi].copy_(torch.as_tensor(np.asarray(arr)))

    def n_synthetic_in_batch(self, batch_size: int) -> int:
        """How many rows of a batch come from synthetic data in ratio mode."""
        if self.synthetic_ratio is None:
            raise ValueError("all-together mode has no fixed synthetic count per batch")
        return round(self.synthetic_ratio * batch_size)

    def sample(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        out: torch.Tensor | None = None,
    ) -> Batch:
        """Draw a batch with replacement into ``out`` (contiguous [batch_size, width]: N
        agents' batches side by side) or into a reused tensor (no allocation per call)."""
        if self._idx is None or self._idx.shape[0] != batch_size:
            if batch_size <= 0:
                raise ValueError(f"batch_size must be positive, got {batch_size}")
            self._idx = torch.empty(batch_size, dtype=torch.long, device=self.device)
        if out is None:
            if self._out is None or self._out.shape[0] != batch_size:
                self._out = torch.empty((batch_size, self.width), device=self.device)
            out = self._out
        idx = self._idx
        if self.synthetic_ratio is None:
            torch.randint(0, len(self), (batch_size,), generator=generator, out=idx)
        else:
            n_syn = self.n_synthetic_in_batch(batch_size)
            n_real = batch_size - n_syn
            if n_real:
                torch.randint(0, self.n_real, (n_real,), generator=generator, out=idx[:n_real])
            if n_syn:
                torch.randint(
                    self.n_real, len(self), (n_syn,), generator=generator, out=idx[n_real:]
                )
        torch.index_select(self.data, 0, idx, out=out)
        return Batch.from_rows(out, self.obs_dim, self.act_dim)

    @property
    def width(self) -> int:
        """Floats per packed row: ``2·obs_dim + act_dim + 2``."""
        return self.data.shape[1]

    def state_stats(self, eps: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std + eps of the *real* observations (TD3+BC's state normalization).

        Real data only: synthetic states come from a model of the real ones and may hold
        outliers; the evaluation env sees real states.
        """
        var, mean = torch.var_mean(self.data[: self.n_real, : self.obs_dim], dim=0, correction=0)
        return mean.cpu().numpy(), (var.sqrt() + eps).cpu().numpy()
