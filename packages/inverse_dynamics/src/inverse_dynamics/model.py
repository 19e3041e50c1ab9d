"""The inverse dynamics model: a diagonal Gaussian over a_t given a window of states."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from inverse_dynamics.config import IDMConfig
from inverse_dynamics.validation import check_windows_actions

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "mish": nn.Mish,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}
_STD_FLOOR = 1e-6


class InverseDynamicsModel(nn.Module):
    """a_t ~ N(mu(w), diag sigma(w)^2), w = [s_{t-m}, ..., s_t, s_{t+1}].

    States and actions are standardized with statistics stored in the model (buffers, so
    they travel with `state_dict` and `save`); the Gaussian lives in normalized action space
    and `mean`/`sample` map back and clip to the action bounds.
    """

    def __init__(
        self,
        config: IDMConfig,
        action_low: np.ndarray | float | None = None,
        action_high: np.ndarray | float | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        in_dim = config.window_len * config.obs_dim
        layers: list[nn.Module] = []
        for width in config.hidden_sizes:
            layers += [nn.Linear(in_dim, width), _ACTIVATIONS[config.activation]()]
            in_dim = width
        layers.append(nn.Linear(in_dim, 2 * config.act_dim))
        self.net = nn.Sequential(*layers)
        low = -np.inf if action_low is None else action_low
        high = np.inf if action_high is None else action_high
        low_t = torch.tensor(np.broadcast_to(low, (config.act_dim,)), dtype=torch.float32)
        high_t = torch.tensor(np.broadcast_to(high, (config.act_dim,)), dtype=torch.float32)
        if not bool((low_t < high_t).all()):
            raise ValueError(
                f"action_low {low_t.tolist()} must be below action_high {high_t.tolist()}"
            )
        self.register_buffer("obs_mean", torch.zeros(config.obs_dim))
        self.register_buffer("obs_std", torch.ones(config.obs_dim))
        self.register_buffer("act_mean", torch.zeros(config.act_dim))
        self.register_buffer("act_std", torch.ones(config.act_dim))
        self.register_buffer("act_low", low_t)
        self.register_buffer("act_high", high_t)

    # --- normalization -------------------------------------------------------------------
    def set_normalization(self, windows: np.ndarray, actions: np.ndarray) -> None:
        """Fit the state and action standardization to training data."""
        states = windows.reshape(-1, windows.shape[-1])
        self.obs_mean.copy_(torch.as_tensor(states.mean(0)))
        self.obs_std.copy_(torch.as_tensor(np.maximum(states.std(0), _STD_FLOOR)))
        self.act_mean.copy_(torch.as_tensor(actions.mean(0)))
        self.act_std.copy_(torch.as_tensor(np.maximum(actions.std(0), _STD_FLOOR)))

    # --- distribution --------------------------------------------------------------------
    def forward(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalized-action mean and log-std for windows (B, m+2, obs_dim)."""
        x = ((windows - self.obs_mean) / self.obs_std).flatten(1)
        mean, log_std = self.net(x).chunk(2, dim=-1)
        return mean, log_std.clamp(self.config.min_log_std, self.config.max_log_std)

    def log_prob(self, windows: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """log p(a | w) in raw action units (B,), the Gaussian before any clipping."""
        mean, log_std = self(windows)
        z = ((actions - self.act_mean) / self.act_std - mean) / log_std.exp()
        per_dim = -0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi) - self.act_std.log()
        return per_dim.sum(-1)

    @torch.no_grad()
    def mean(self, windows: torch.Tensor) -> torch.Tensor:
        """The most likely action, clipped to the action bounds (inference: no gradient)."""
        mean, _ = self(windows)
        return self._to_action(mean)

    @torch.no_grad()
    def sample(
        self, windows: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """A Gaussian draw, clipped to the action bounds."""
        mean, log_std = self(windows)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return self._to_action(mean + noise * log_std.exp())

    def _to_action(self, normalized: torch.Tensor) -> torch.Tensor:
        action = normalized * self.act_std + self.act_mean
        return torch.maximum(torch.minimum(action, self.act_high), self.act_low)

    # --- numpy convenience ---------------------------------------------------------------
    @torch.no_grad()
    def predict(self, windows: np.ndarray, batch_size: int = 65536) -> np.ndarray:
        """Mean actions for a numpy array of windows, batched to bound memory."""
        windows = np.asarray(windows, dtype=np.float32)
        cfg = self.config
        check_windows_actions(windows, None, cfg.window_len, cfg.obs_dim, cfg.act_dim)
        device = self.obs_mean.device
        out = [
            self.mean(torch.from_numpy(windows[i : i + batch_size]).to(device)).cpu().numpy()
            for i in range(0, len(windows), batch_size)
        ]
        return np.concatenate(out)

    def export(self) -> tuple[dict[str, np.ndarray], dict]:
        """Weights and config as float32 arrays with stable names (docs/engine_contract.md)."""
        weights = {
            k: v.detach().cpu().to(torch.float32).contiguous().numpy().copy()
            for k, v in self.state_dict().items()
        }
        return weights, self.config.to_dict()
