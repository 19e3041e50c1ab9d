"""Dataclass configs: the model's shape, and how it is fitted."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ACTIVATIONS = ("relu", "mish", "silu", "tanh", "gelu")


@dataclass(frozen=True)
class IDMConfig:
    """Shape of the inverse dynamics model a_t ~ N(mu, sigma | s_{t-m..t-1}, s_t, s_{t+1}).

    Defaults follow Decision Diffuser's IDM (Ajay et al. 2023, App. B: a 2x256 ReLU MLP
    inferring a_t from (s_t, s_{t+1})); DAWM (arXiv 2509.19538, Sec. 3.2) adds the history of
    m previous states, m = 1 by default here.
    """

    obs_dim: int
    act_dim: int
    history: int = 1
    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    # Bounds on the Gaussian's log-std (normalized action units): keeps the likelihood finite.
    min_log_std: float = -5.0
    max_log_std: float = 2.0

    def __post_init__(self) -> None:
        if self.obs_dim <= 0 or self.act_dim <= 0:
            raise ValueError(
                f"IDMConfig: obs_dim and act_dim must be positive, got {self.obs_dim}, {self.act_dim}"
            )
        if self.history < 0:
            raise ValueError(f"IDMConfig: history must be >= 0, got {self.history}")
        if not self.hidden_sizes or any(h <= 0 for h in self.hidden_sizes):
            raise ValueError(
                f"IDMConfig: hidden_sizes must be positive ints, got {self.hidden_sizes}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"IDMConfig: unknown activation {self.activation!r}; choose one of {ACTIVATIONS}"
            )
        if self.min_log_std >= self.max_log_std:
            raise ValueError("IDMConfig: min_log_std must be below max_log_std")
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))

    @property
    def window_len(self) -> int:
        """States per input window: m history states, s_t and s_{t+1}."""
        return self.history + 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IDMConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"IDMConfig: unknown keys {sorted(unknown)} in saved config")
        return cls(**{**d, "hidden_sizes": tuple(d.get("hidden_sizes", (256, 256)))})


@dataclass
class FitConfig:
    """How `fit` trains: Gaussian NLL, Adam, early stopping on the validation NLL."""

    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_epochs: int = 100
    # Held-out fraction of windows, drawn at random with `seed`.
    val_fraction: float = 0.1
    # Epochs without a validation improvement before stopping; the best weights are restored.
    patience: int = 5
    seed: int = 0
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size <= 0 or self.max_epochs <= 0 or self.lr <= 0:
            raise ValueError("FitConfig: batch_size, max_epochs and lr must be positive")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"FitConfig: val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.patience < 1:
            raise ValueError(f"FitConfig: patience must be >= 1, got {self.patience}")
