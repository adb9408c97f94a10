"""The ``module:attr`` grammar of entrypoints (SPEC.md section 3.5) and, separately, resolve().

`parse_entrypoint` never imports anything; `Entrypoint.resolve` does, and is only called by
steps that are explicitly allowed to run the project's code.
"""

from __future__ import annotations

import importlib
import keyword
import re
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from scheduled_spec.errors import EntrypointError, ScheduledError


class EntrypointSyntaxError(ScheduledError, ValueError):
    """An entrypoint string breaks the grammar; carries the issue code and a hint."""

    def __init__(self, code: str, message: str, hint: str | None = None):
        self.code = code
        self.hint = hint
        super().__init__(message)


class Entrypoint(NamedTuple):
    """A parsed entrypoint: ``module`` (dotted) and ``attribute`` (dotted qualified name)."""

    module: str
    attribute: str

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}"

    def resolve(self) -> Callable[[], Any]:
        """Import the module and return the callable. Runs the project's code.

        Raises EntrypointError (code SCH210, SCH211 or SCH212) when it cannot.
        """
        try:
            obj: Any = importlib.import_module(self.module)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise EntrypointError(
                str(self), f'importing module "{self.module}" failed: {_describe(exc)}', "SCH210"
            ) from exc
        walked = self.module
        for part in self.attribute.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise EntrypointError(
                    str(self), f'"{walked}" has no attribute "{part}"', "SCH211"
                ) from None
            walked += ("." if walked != self.module else ":") + part
        if not callable(obj):
            raise EntrypointError(
                str(self),
                f'"{self.attribute}" is not callable: it is of type {type(obj).__name__}',
                "SCH212",
            )
        import inspect  # noqa: PLC0415 - only resolving needs it; validate starts faster

        try:
            inspect.signature(obj).bind()
        except TypeError as exc:
            raise EntrypointError(
                str(self), f'"{self.attribute}" cannot be called without arguments: {exc}', "SCH212"
            ) from None
        except ValueError:
            pass  # no signature to inspect (some builtins): calling it is the only test
        return obj  # type: ignore[no-any-return]


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


def _check_part(part: str, whole: str, role: str) -> None:
    if not part:
        raise EntrypointSyntaxError(
            "SCH204",
            f'expected a {role} of dotted Python identifiers, got an empty part in "{whole}"',
        )
    if part != part.strip():
        raise EntrypointSyntaxError(
            "SCH205",
            f'"{part}" in "{whole}" is not a Python identifier: it has white space',
            f'remove the spaces: "{"".join(whole.split())}"',
        )
    if not part.isidentifier():
        raise EntrypointSyntaxError("SCH205", f'"{part}" in "{whole}" is not a Python identifier')
    if keyword.iskeyword(part):
        raise EntrypointSyntaxError(
            "SCH206", f'"{part}" in "{whole}" is a Python keyword and cannot be imported'
        )


# An ASCII identifier that is not a keyword: the common case, matched by one regex.
_ASCII_IDENT = r"(?!(?:{})(?![A-Za-z0-9_]))[A-Za-z_][A-Za-z0-9_]*".format("|".join(keyword.kwlist))
_ASCII_REFERENCE = re.compile(
    rf"({_ASCII_IDENT}(?:\.{_ASCII_IDENT})*):({_ASCII_IDENT}(?:\.{_ASCII_IDENT})*)"
)


def parse_entrypoint(text: str) -> Entrypoint:
    """Parse ``pkg.mod:attr`` or ``pkg.mod:Obj.attr``. Imports nothing.

    Raises EntrypointSyntaxError naming exactly what is wrong.
    """
    match = _ASCII_REFERENCE.fullmatch(text)
    if match is not None:
        # Interned: many jobs usually share a module, and a provider may hold 100,000 jobs.
        return Entrypoint(sys.intern(match[1]), sys.intern(match[2]))
    # The slow path: non-ASCII identifiers, and finding out exactly what is wrong.
    if ":" not in text:
        parts = text.rsplit(".", 1)
        hint = (
            f'did you mean "{parts[0]}:{parts[1]}"?'
            if len(parts) == 2 and all(parts)
            else ('write "module:function", for example "app.jobs:clean_files"')
        )
        raise EntrypointSyntaxError(
            "SCH202",
            f'expected "module:attribute", got "{text}", which has no ":"',
            hint,
        )
    module, _, attribute = text.partition(":")
    if ":" in attribute:
        raise EntrypointSyntaxError(
            "SCH203",
            f'expected exactly one ":" between module and attribute, got "{text}"',
            'use "." between the parts of the attribute, as in "app.jobs:Cleaner.run"',
        )
    if not module.strip() or not attribute.strip():
        missing = "module" if not module.strip() else "attribute"
        raise EntrypointSyntaxError(
            "SCH204", f'expected "module:attribute", got "{text}" with an empty {missing}'
        )
    for part in module.split("."):
        _check_part(part, text, "module")
    for part in attribute.split("."):
        _check_part(part, text, "attribute")
    return Entrypoint(module, attribute)


def resolve(entrypoint: Entrypoint | str, *, root: str | None = None) -> Callable[[], Any]:
    """Import `entrypoint` (with `root` first on sys.path) and return the callable.

    Raises EntrypointSyntaxError for a malformed string and EntrypointError when the import,
    the attribute lookup or the callable check fails.
    """
    parsed = parse_entrypoint(entrypoint) if isinstance(entrypoint, str) else entrypoint
    if root is not None and root not in sys.path:
        sys.path.insert(0, root)
    return parsed.resolve()
