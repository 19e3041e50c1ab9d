"""Every numeric option's valid range and every choice option's values, checked before any
stage runs (one table and one loop for ranges, the type hints for choices).

`check(cfg)` walks RANGES and raises one line naming the flag, the bad value and the valid
range; tests/dawm_pipeline/test_options.py walks the same table with bad values and checks
that every numeric field of the config has a row, so a new option cannot skip validation.
Choice options (`Literal[...]` fields) are checked from their type hints: the CLI refuses a
bad choice itself, but configs built in Python (benchmarks, the experiments) come here only.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Range:
    """A valid range: `ok(value)` and how to say it."""

    ok: Callable[[float], bool]
    text: str
    optional: bool = False
    """None is allowed too (the option's documented 'off' or 'default')."""
    integer: bool = False

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not float(value).is_integer():
            return False
        return math.isfinite(value) and self.ok(value)


def at_least(low: int, optional: bool = False) -> Range:
    return Range(lambda v: v >= low, f">= {low}", optional, integer=True)


POSITIVE = Range(lambda v: v > 0, "> 0")
FINITE = Range(lambda v: True, "a finite number")
FRACTION_OPEN = Range(lambda v: 0 <= v < 1, "in [0, 1)")
FRACTION = Range(lambda v: 0 <= v <= 1, "in [0, 1]")

RANGES: dict[str, Range] = {
    "horizon": at_least(1),
    "synthetic_ratio": POSITIVE,
    "data_scale": Range(lambda v: 0 < v <= 1, "in (0, 1]"),
    "gamma": Range(lambda v: 0 < v <= 1, "in (0, 1]"),
    "threads": at_least(1),
    "eval_workers": at_least(1),
    "model_seed": at_least(0),
    "wm.dim": at_least(8),
    "wm.diffusion_steps": at_least(1),
    "wm.p_uncond": FRACTION_OPEN,
    "wm.lr": POSITIVE,
    "wm.batch_size": at_least(1),
    "wm.steps": at_least(1),
    "wm.ema_decay": Range(lambda v: 0 < v < 1, "in (0, 1)"),
    "wm.ema_every": at_least(1),
    "wm.ema_max_age": POSITIVE,
    "wm.checkpoint_every": at_least(1),
    "wm.stop_patience": at_least(1, optional=True),
    "wm.stop_every": at_least(1),
    "wm.stop_min_gain": Range(lambda v: v >= 0, ">= 0"),
    "idm.history": at_least(0),
    "idm.lr": POSITIVE,
    "idm.batch_size": at_least(1),
    "idm.max_epochs": at_least(1),
    "idm.patience": at_least(1),
    "idm.holdout_fraction": FRACTION_OPEN,
    "idm.next_state_noise": Range(lambda v: v >= 0, ">= 0"),
    "gen.sampling_steps": at_least(1),
    "gen.guidance": FINITE,
    "gen.rtg_quantile": FRACTION,
    "gen.target_rtg": Range(lambda v: True, "a finite number", optional=True),
    "gen.clip": POSITIVE,
    "gen.max_transitions": at_least(1, optional=True),
    "agent.steps": at_least(1),
    "agent.batch_size": at_least(1),
    "agent.synthetic_fraction": Range(lambda v: 0 <= v <= 1, "in [0, 1]", optional=True),
    "agent.eval_every": at_least(1),
    "agent.eval_episodes": at_least(1),
    "agent.final_eval_episodes": at_least(1),
    "agent.checkpoint_every": at_least(1),
    "agent.hidden": at_least(1),
    "agent.score_points": at_least(1),
}


def flag(path: str) -> str:
    return "--" + path.replace("_", "-")


def get(cfg, path: str) -> Any:
    value = cfg
    for part in path.split("."):
        value = getattr(value, part)
    return value


def choices(hint: Any) -> tuple | None:
    """The values a `Literal[...]` hint allows (None too for an optional one); None for any
    other hint."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        parts = [
            choices(h) or ((None,) if h is type(None) else None) for h in typing.get_args(hint)
        ]
        if all(parts):
            return tuple(v for p in parts for v in p)
    return None


def choice_options(cfg, prefix: str = "") -> dict[str, tuple]:
    """Every choice option of `cfg` and its sections: dotted path -> the values it allows."""
    hints, found = typing.get_type_hints(type(cfg)), {}
    for f in dataclasses.fields(cfg):
        value, path = getattr(cfg, f.name), prefix + f.name
        if dataclasses.is_dataclass(value):
            found |= choice_options(value, path + ".")
        elif (allowed := choices(hints[f.name])) is not None:
            found[path] = allowed
    return found


def check_choices(cfg) -> None:
    """Raise ValueError for the first choice option holding a value it does not allow."""
    for path, allowed in choice_options(cfg).items():
        value = get(cfg, path)
        if value not in allowed:
            names = ", ".join(str(v) for v in allowed)
            raise ValueError(f"{flag(path)} must be one of {names} (got {value!r})")


def check(cfg) -> None:
    """Raise ValueError for the first option outside its range or choices (one line, with the
    fix)."""
    check_choices(cfg)
    for path, valid in RANGES.items():
        value = get(cfg, path)
        if not valid.accepts(value):
            none = " or None" if valid.optional else ""
            raise ValueError(f"{flag(path)} must be {valid.text}{none} (got {value!r})")
    bad = [s for s in cfg.seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
    if not cfg.seeds or bad:
        raise ValueError(f"--seeds must be one or more integers >= 0 (got {list(cfg.seeds)})")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise ValueError(
            f"--seeds names a seed twice (got {list(cfg.seeds)}): two jobs would share one folder"
        )
