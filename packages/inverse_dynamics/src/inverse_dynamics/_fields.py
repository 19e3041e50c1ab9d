"""Each config field's valid values, declared once and checked up front with one-line errors.

Deliberately one identical copy of this file per library (diffusion_wm, inverse_dynamics,
offline_agents): each installs alone and imports no sibling. A config declares a `Valid` per
field in its `VALID` table and calls `check_fields(self)` first in `__post_init__`, so a bad
value fails at construction, naming class, field, value and range, before any work starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

_BAD = object()


@dataclass(frozen=True)
class Valid:
    """What one field accepts: a kind ("int", "float", "bool" or "str"), for numbers the range
    lo..hi (ends open when asked; floats must be finite), for strings the choices if any.
    `many`: a non-empty tuple of such values; `none`: None too; `why`: what an edge means."""

    kind: str
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    many: bool = False
    none: bool = False
    why: str = ""

    def text(self) -> str:
        """The valid values in words, e.g. 'a finite number in (0, 1]'."""
        if self.kind == "bool":
            one = "a bool"
        elif self.kind == "str":
            one = f"one of {self.choices}" if self.choices else "a str"
        else:
            one = ("an int" if self.kind == "int" else "a finite number") + self._range()
        one = f"a non-empty tuple, each {one}" if self.many else one
        return one + (" or None" if self.none else "")

    def _range(self) -> str:
        lo, hi = f"{self.lo:g}", f"{self.hi:g}"
        if math.isfinite(self.lo) and math.isfinite(self.hi):
            return f" in {'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}"
        if math.isfinite(self.lo):
            return f" {'>' if self.lo_open else '>='} {lo}"
        if math.isfinite(self.hi):
            return f" {'<' if self.hi_open else '<='} {hi}"
        return ""

    def check(self, owner: str, name: str, value: Any) -> Any:
        """`value` normalized (numpy scalars to int/float, lists to tuples), else ValueError."""
        if value is None and self.none:
            return None
        if not self.many:
            one = self._one(value)
            if one is not _BAD:
                return one
        elif isinstance(value, tuple | list) and value:
            items = tuple(self._one(v) for v in value)
            if _BAD not in items:
                return items
        why = f" ({self.why})" if self.why else ""
        raise ValueError(f"{owner}.{name} must be {self.text()}, got {_show(value)}{why}")

    def _one(self, value: Any) -> Any:
        if self.kind == "bool":
            return value if isinstance(value, bool) else _BAD
        if self.kind == "str":
            ok = isinstance(value, str) and (not self.choices or value in self.choices)
            return value if ok else _BAD
        number = Integral if self.kind == "int" else Real
        if isinstance(value, bool) or not isinstance(value, number):
            return _BAD
        v = int(value) if self.kind == "int" else float(value)
        finite = self.kind == "int" or math.isfinite(v)
        above = v > self.lo if self.lo_open else v >= self.lo
        below = v < self.hi if self.hi_open else v <= self.hi
        return v if finite and above and below else _BAD


COUNT = Valid("int", lo=1)
SEED = Valid("int", lo=0)
POSITIVE = Valid("float", lo=0, lo_open=True)
NONNEGATIVE = Valid("float", lo=0)
FINITE = Valid("float")
FLAG = Valid("bool")


def check_fields(config: Any) -> None:
    """Check and normalize, in place (frozen dataclasses too), every field in `VALID`."""
    owner = type(config).__name__
    for name, valid in type(config).VALID.items():
        object.__setattr__(config, name, valid.check(owner, name, getattr(config, name)))


def _show(value: Any) -> str:
    """repr on one line, cut at 80 characters (an array's repr spans lines)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."
