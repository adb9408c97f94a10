"""Where each key and value of a TOML document stands (1-based line and column).

tomli returns plain data without positions, so this module re-reads text that tomli has
already accepted and records, for every key path, where the key and its value start.  It
runs only when there is something to report, so a valid project pays nothing for it.
"""

from __future__ import annotations

import re
from bisect import bisect_right

import tomli

Path = tuple[str | int, ...]


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}\n#\r]*")
_SPACE = re.compile(r"[ \t]+")
_SPACE_AND_COMMENTS = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)+")
_BASIC = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_LITERAL = re.compile(r"'[^'\n]*'")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        # Raw indices while scanning; lines and columns are worked out only for the paths
        # somebody asks about.
        self.found: dict[Path, tuple[int, int]] = {}
        self.array_tables: dict[Path, int] = {}

    def record(self, path: Path, key_at: int, value_at: int) -> None:
        if path not in self.found:
            self.found[path] = (key_at, value_at)

    def skip_space(self, newlines: bool = False) -> None:
        pattern = _SPACE_AND_COMMENTS if newlines else _SPACE
        match = pattern.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()

    def skip_comment_line(self) -> None:
        self.skip_space()
        if self.pos < len(self.text) and self.text[self.pos] == "#":
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end

    def string(self) -> str:
        """Consume one string literal of any of the four kinds; return its raw source."""
        text, start = self.text, self.pos
        for quote in ('"""', "'''"):
            if text.startswith(quote, start):
                end = start + 3
                while True:
                    end = text.index(quote, end)
                    if quote == '"""' and _escaped(text, end):
                        end += 1
                        continue
                    break
                while text.startswith(quote[0], end + 3):  # up to two quotes may close it
                    end += 1
                self.pos = end + 3
                return text[start : self.pos]
        match = (_BASIC if text[start] == '"' else _LITERAL).match(text, start)
        if match is None:
            raise ValueError(f"unterminated string at {start}")
        self.pos = match.end()
        return match[0]

    def key(self) -> list[tuple[str, int]]:
        """A dotted key: its parts with the index where each starts."""
        parts: list[tuple[str, int]] = []
        while True:
            self.skip_space()
            at = self.pos
            ch = self.text[self.pos]
            if ch in "\"'":
                raw = self.string()
                parts.append((tomli.loads(f"k = {raw}")["k"], at))
            else:
                match = _BARE_KEY.match(self.text, at)
                end = at if match is None else match.end()
                parts.append((self.text[at:end], at))
                self.pos = end
            self.skip_space()
            if self.pos < len(self.text) and self.text[self.pos] == ".":
                self.pos += 1
                continue
            return parts

    def keyval(self, prefix: Path) -> None:
        parts = self.key()
        self.skip_space()
        self.pos += 1  # "="
        self.skip_space()
        path = prefix
        for name, at in parts[:-1]:
            path = (*path, name)
            self.record(path, at, at)
        path = (*path, parts[-1][0])
        self.record(path, parts[-1][1], self.pos)
        self.value(path)

    def value(self, path: Path) -> None:
        text = self.text
        ch = text[self.pos]
        if ch in "\"'":
            self.string()
        elif ch == "[":
            self.pos += 1
            index = 0
            while True:
                self.skip_space(newlines=True)
                if text[self.pos] == "]":
                    self.pos += 1
                    return
                self.record((*path, index), self.pos, self.pos)
                self.value((*path, index))
                index += 1
                self.skip_space(newlines=True)
                if text[self.pos] == ",":
                    self.pos += 1
        elif ch == "{":
            self.pos += 1
            while True:
                self.skip_space(newlines=True)
                if text[self.pos] == "}":
                    self.pos += 1
                    return
                self.keyval(path)
                self.skip_space(newlines=True)
                if text[self.pos] == ",":
                    self.pos += 1
        else:
            match = _SCALAR.match(text, self.pos)
            if match is not None:
                self.pos = match.end()

    def document(self) -> dict[Path, tuple[int, int]]:
        text = self.text
        prefix: Path = ()
        while True:
            self.skip_space(newlines=True)
            if self.pos >= len(text):
                return self.found
            at = self.pos
            if text.startswith("[[", at):
                self.pos += 2
                parts = self.key()
                self.pos += 2
                base = tuple(name for name, _ in parts)
                index = self.array_tables.get(base, -1) + 1
                self.array_tables[base] = index
                self._record_header(parts, at)
                prefix = (*base, index)
                self.record(prefix, at, at)
            elif text[at] == "[":
                self.pos += 1
                parts = self.key()
                self.pos += 1
                self._record_header(parts, at)
                prefix = tuple(name for name, _ in parts)
            else:
                self.keyval(prefix)
            self.skip_comment_line()

    def _record_header(self, parts: list[tuple[str, int]], header_at: int) -> None:
        # A table's key is its name inside the header; its "value" starts at the "[".
        path: Path = ()
        for name, at in parts:
            path = (*path, name)
            self.record(path, at, header_at)


def _escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


class Positions:
    """Positions of every key path in one TOML document, computed on first use."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._found: dict[Path, tuple[int, int]] | None = None
        self._line_starts: list[int] = []

    def _table(self) -> dict[Path, tuple[int, int]]:
        if self._found is None:
            try:
                self._found = _Scanner(self._text).document()
            except (ValueError, IndexError, tomli.TOMLDecodeError):
                # Text that tomli accepted but this scanner misreads: report without places
                # rather than fail; the issue itself is still right.
                self._found = {}
            self._line_starts = [0, *(m.end() for m in re.finditer("\n", self._text))]
        return self._found

    def _where(self, index: int) -> tuple[int, int]:
        line = bisect_right(self._line_starts, index)
        return line, index - self._line_starts[line - 1] + 1

    def _nearest(self, path: Path, which: int) -> tuple[int, int] | tuple[None, None]:
        found = self._table()
        for end in range(len(path), 0, -1):
            indices = found.get(path[:end])
            if indices is not None:
                return self._where(indices[which])
        return (None, None)

    def of_value(self, path: Path) -> tuple[int, int] | tuple[None, None]:
        """Where the value at `path` starts, or the nearest enclosing table's header."""
        return self._nearest(path, 1)

    def of_key(self, path: Path) -> tuple[int, int] | tuple[None, None]:
        """Where the key at `path` is written, or the nearest enclosing table's header."""
        return self._nearest(path, 0)
