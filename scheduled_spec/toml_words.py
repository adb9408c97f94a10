"""A user's TOML values in messages: ``"daily"``, ``an integer (86400)``, ``a table``."""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, time

_INVISIBLE = re.compile("[\u007f-\u009f\u2028\u2029]")


def toml_repr(value: object) -> str:
    """A user's value the way TOML writes it, for messages: ``"daily"``, ``86400``, ``true``."""
    if isinstance(value, str):
        # A TOML basic string: JSON escapes C0 controls; escape DEL, C1 and line separators
        # too, so that nothing invisible reaches a terminal.
        return _INVISIBLE.sub(
            lambda m: f"\\u{ord(m[0]):04x}", json.dumps(value, ensure_ascii=False)
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return f"{toml_type(value)}"


_TOML_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (str, "a string"),
    (bool, "a boolean"),  # before int: bool is a subclass of int
    (int, "an integer"),
    (float, "a float"),
    (list, "an array"),
    (dict, "a table"),
    ((datetime, date, time), "a date-time"),
)


def toml_type(value: object) -> str:
    """The TOML word for a value's type, with an article: ``a string``, ``a table``."""
    return next((word for kind, word in _TOML_TYPES if isinstance(value, kind)), "a value")


def got(value: object) -> str:
    """``got "daily"`` for strings, ``got an integer (86400)`` for other scalars."""
    if isinstance(value, str):
        return f"got {toml_repr(value)}"
    if isinstance(value, bool | int | float) and not (
        isinstance(value, float) and math.isnan(value)
    ):
        return f"got {toml_type(value)} ({toml_repr(value)})"
    return f"got {toml_type(value)}"
