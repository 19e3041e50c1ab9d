"""What the three libraries' config-field tests share: bad values for a field's type, the
parametrized cases of a table, and the one-line error check.

Each library's test keeps its own table of field-specific bad and good values; the generic
wrong values (other types, NaN, inf, None, empty tuples) come from the field's type hint.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing

import pytest

NAN, INF = math.nan, math.inf

Table = dict[type, dict[str, tuple[list, list]]]
"""config class -> field -> (bad values beyond the generic ones, good edge values)."""


def _kind(hint: typing.Any) -> tuple[typing.Any, bool, bool]:
    """(scalar type, a tuple of them?, None allowed?) of a field's type hint."""
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    many = typing.get_origin(hint) is tuple
    return (typing.get_args(hint)[0] if many else hint), many, optional


def generic_bad(hint: typing.Any, wrong_str: bytes) -> list:
    """Values wrong for any field of this type: other types, NaN, inf, None, empty tuples
    (`wrong_str`: a bytes look-alike of a valid string choice)."""
    kind, many, optional = _kind(hint)
    one = {
        int: ["3", 2.5, True, NAN, INF],
        float: ["0.5", True, NAN, INF, -INF],
        bool: [1, "yes", 0.0],
        str: [3, wrong_str],
    }[kind]
    bad = ["64", (), *[(v,) for v in one]] if many else list(one)
    return bad if optional else [*bad, None]


def bad_cases(table: Table, wrong_str: bytes) -> list:
    """One pytest case per (class, field, bad value), generic and specific."""
    cases = []
    for cls, rows in table.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            for value in generic_bad(hints[f.name], wrong_str) + rows.get(f.name, ([], []))[0]:
                cases.append(
                    pytest.param(cls, f.name, value, id=f"{cls.__name__}.{f.name}={value!r}")
                )
    return cases


def good_cases(table: Table) -> list[tuple[type, str, typing.Any]]:
    return [
        (cls, name, v)
        for cls, rows in table.items()
        for name, (_, good) in rows.items()
        for v in good
    ]


def assert_one_line_naming(err: pytest.ExceptionInfo, owner: str, name: str) -> None:
    msg = str(err.value)
    assert msg.startswith(f"{owner}.") and re.search(rf"{re.escape(owner)}\.{name}\b", msg), msg
    assert "\n" not in msg and "got" in msg, msg
