"""Just enough YAML to write manifests and workflows without a YAML library.

Every string is written as a JSON string, which is also a YAML double-quoted scalar, so no
user text can change the document's structure.
"""

from __future__ import annotations

import json
from typing import Any


def dump(value: Any, indent: int = 0) -> str:
    """Block-style YAML for dicts, lists, strings, numbers and booleans."""
    return "\n".join(_lines(value, indent)) + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if value is None:
        return "null"
    return json.dumps(str(value), ensure_ascii=False)


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            name = key if _bare_key(str(key)) else _scalar(key)
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{name}:")
                lines.extend(_lines(item, indent + 2))
            else:
                text = _empty(item) if isinstance(item, dict | list) else _scalar(item)
                lines.append(f"{pad}{name}: {text}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = _lines(item, indent + 2)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return lines


# Keys YAML 1.1 parsers read as booleans or null: quoted, so "on" stays the string "on".
_SPECIAL = frozenset({"on", "off", "yes", "no", "y", "n", "true", "false", "null", "~"})


def _bare_key(key: str) -> bool:
    return (
        bool(key)
        and key.replace("-", "").replace("_", "").replace(".", "").replace("/", "").isalnum()
        and key.isascii()
        and key.lower() not in _SPECIAL
        and not key[0].isdigit()
    )


def _empty(value: dict[Any, Any] | list[Any]) -> str:
    return "{}" if isinstance(value, dict) else "[]"
