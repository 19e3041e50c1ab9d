"""The behaviour policies, run without stable-baselines3.

A policy file is a safetensors copy of a stable-baselines3 SAC actor (an MLP trunk
`latent_pi.*`, a mean head `mu` and a log-std head `log_std`; the action is
tanh(mu + std·ε) rescaled to the action bounds). Reading it with numpy keeps dataset
regeneration free of the training extra and bit-reproducible for a given seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# stable-baselines3's SAC actor clips log-std to this range (sb3 `sac/policies.py`).
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


@dataclass
class GaussianPolicy:
    """A tanh-squashed diagonal Gaussian MLP policy (float64 numpy forward pass)."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    mu: tuple[np.ndarray, np.ndarray]
    log_std: tuple[np.ndarray, np.ndarray]
    action_low: np.ndarray
    action_high: np.ndarray
    metadata: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> GaussianPolicy:
        """Read a policy written by `save_sb3_actor`."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"policy file {path} not found: rebuild it with "
                "`python -m dawm_pipeline.datasets build`"
            )
        with safe_open(str(path), framework="numpy") as f:
            meta = dict(f.metadata() or {})
            t = {k: f.get_tensor(k).astype(np.float64) for k in f.keys()}  # noqa: SIM118
        layers = sorted({int(k.split(".")[1]) for k in t if k.startswith("latent_pi.")})
        return cls(
            weights=[t[f"latent_pi.{i}.weight"] for i in layers],
            biases=[t[f"latent_pi.{i}.bias"] for i in layers],
            mu=(t["mu.weight"], t["mu.bias"]),
            log_std=(t["log_std.weight"], t["log_std.bias"]),
            action_low=np.asarray(json.loads(meta["action_low"]), dtype=np.float64),
            action_high=np.asarray(json.loads(meta["action_high"]), dtype=np.float64),
            metadata=meta,
        )

    def act(self, obs: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """Actions for a batch of observations; `noise` (standard normal, same shape as the
        actions) samples the Gaussian, None gives the deterministic (mean) action."""
        h = np.asarray(obs, dtype=np.float64)
        for w, b in zip(self.weights, self.biases, strict=True):
            h = np.maximum(h @ w.T + b, 0.0)
        u = h @ self.mu[0].T + self.mu[1]
        if noise is not None:
            log_std = np.clip(h @ self.log_std[0].T + self.log_std[1], LOG_STD_MIN, LOG_STD_MAX)
            u = u + np.exp(log_std) * noise
        a = np.tanh(u)
        return self.action_low + (a + 1.0) * 0.5 * (self.action_high - self.action_low)

    @property
    def act_dim(self) -> int:
        return int(self.mu[1].shape[0])
