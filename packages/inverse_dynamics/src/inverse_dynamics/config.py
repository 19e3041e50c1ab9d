"""Dataclass configs: the model's shape, and how it is fitted."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from inverse_dynamics._fields import COUNT, FINITE, FLAG, POSITIVE, SEED, Valid, check_fields

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

    VALID: ClassVar[dict[str, Valid]] = {
        "obs_dim": COUNT,
        "act_dim": COUNT,
        "history": Valid("int", lo=0, why="0: (s_t, s_t+1) alone, Decision Diffuser's IDM"),
        "hidden_sizes": Valid("int", lo=1, many=True),
        "activation": Valid("str", choices=ACTIVATIONS),
        "min_log_std": FINITE,
        "max_log_std": FINITE,
    }

    def __post_init__(self) -> None:
        check_fields(self)
        if self.min_log_std >= self.max_log_std:
            raise ValueError(
                "IDMConfig.min_log_std must be below IDMConfig.max_log_std, "
                f"got {self.min_log_std} and {self.max_log_std}"
            )

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
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"IDMConfig: unknown fields {unknown} (saved by a newer version?)")
        missing = sorted({"obs_dim", "act_dim"} - set(d))
        if missing:
            raise ValueError(f"IDMConfig: required fields {missing} are missing")
        return cls(**d)


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
    # Std of Gaussian noise added to s_{t+1} of every training window, as a fraction of each
    # state dimension's std: an IDM that labels a world model's states sees that model's
    # errors there, and a noise-free IDM turns them into extreme actions (docs/mixing.md).
    next_state_noise: float = 0.0

    VALID: ClassVar[dict[str, Valid]] = {
        "batch_size": COUNT,
        "lr": POSITIVE,
        "weight_decay": Valid("float", lo=0, why="0: none"),
        "max_epochs": COUNT,
        "val_fraction": Valid("float", lo=0, hi=1, lo_open=True, hi_open=True),
        "patience": COUNT,
        "seed": SEED,
        "device": Valid("str"),
        "progress": FLAG,
        "next_state_noise": Valid("float", lo=0, why="0: none"),
    }

    def __post_init__(self) -> None:
        check_fields(self)
