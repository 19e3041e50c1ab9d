"""Training curves as TensorBoard event files (`--log tensorboard`), written while they happen.

Each computed stage (and each agent job) writes under the computing run's folder,
`<out>/<env>/<run>/tensorboard/<stage>[/<job>]/`: world-model loss, validation loss and the
early-stopping check; IDM train and validation NLL per epoch and its held-out metrics;
generation statistics and fidelity checks; agent losses, Q-values and evaluation returns; final
scores. A stage reused from another run was logged by the run that computed it. Off by default:
it needs the `tensorboard` package (`pip install "dawm-pipeline[tensorboard]"`).
"""

from __future__ import annotations

import math
from numbers import Real
from pathlib import Path
from typing import Any

from dawm_pipeline import distributed

FOLDER = "tensorboard"


def check_available() -> None:
    """One line naming the fix when `--log tensorboard` cannot work here."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ValueError(
            "--log tensorboard needs the tensorboard package: "
            'pip install "dawm-pipeline[tensorboard]" (or pass --log none)'
        ) from None


def log_dir(run_dir: Path) -> Path:
    return Path(run_dir) / FOLDER


def open_hint(run_dir: Path) -> str:
    return f"tensorboard --logdir {log_dir(run_dir)}"


class ScalarLog:
    """The scalars of one stage or job; does nothing when logging is off (or off rank 0)."""

    def __init__(self, ctx: Any, name: str) -> None:
        self._writer = None
        if ctx.cfg.log == "tensorboard" and distributed.is_main():
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(log_dir(ctx.run_dir) / name))

    def scalar(self, tag: str, step: int, value: float) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, value, step)

    def scalars(self, prefix: str, step: int, values: dict[str, Any]) -> None:
        """Every finite number of `values` as `<prefix>/<key>` (the rest is not a curve)."""
        for key, value in values.items():
            number = isinstance(value, Real) and not isinstance(value, bool)
            if number and math.isfinite(value):
                self.scalar(f"{prefix}/{key}", step, float(value))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> ScalarLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
