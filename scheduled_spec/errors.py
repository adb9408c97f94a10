"""The one exception family of scheduled-spec, and the `Issue` every problem is reported as.

Every exception the library raises on purpose derives from `ScheduledError`.  A
project that fails validation raises `InvalidProject`, which carries *all* the
problems found (never just the first), each as an `Issue` with a stable code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class Severity(str, Enum):
    """How bad an issue is. Only errors make a project invalid."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Issue:
    """One problem found in a project.

    `code` is stable (see SPEC.md section 3); `message` wording may improve between
    releases.  `path` is the TOML path of the offending key (``tool.scheduled.nightly.every``);
    `line` and `column` are 1-based and point at the value when there is one, at the key
    or table header otherwise; both are ``None`` when the problem has no place in a file.
    """

    code: str
    severity: Severity
    path: str
    message: str
    hint: str | None = None
    line: int | None = None
    column: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of an issue (SPEC.md section 7)."""
        data = asdict(self)
        data["severity"] = self.severity.value
        return {
            key: data[key]
            for key in ("code", "severity", "path", "line", "column", "message", "hint")
        }

    def describe(self, filename: str = "pyproject.toml") -> str:
        """``file:line:col: CODE path: message (hint)``, the one text template."""
        where = filename
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        subject = f"{self.path}: " if self.path else ""
        text = f"{where}: {self.code} {subject}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class ScheduledError(Exception):
    """Base class of every exception scheduled-spec raises on purpose."""


class InvalidProject(ScheduledError):  # noqa: N818 - the name the spec's users expect
    """A project declaration has at least one error.

    ``issues`` holds every problem found, errors and warnings, in document order.
    """

    def __init__(self, issues: list[Issue] | tuple[Issue, ...], filename: str = "pyproject.toml"):
        self.issues: tuple[Issue, ...] = tuple(issues)
        self.filename = filename
        errors = [i for i in self.issues if i.severity is Severity.ERROR]
        lines = "\n".join(issue.describe(filename) for issue in errors)
        super().__init__(f"{filename}: {len(errors)} error(s)\n{lines}")

    @property
    def errors(self) -> tuple[Issue, ...]:
        """Only the issues of severity error."""
        return tuple(i for i in self.issues if i.severity is Severity.ERROR)


class ProjectFileError(ScheduledError, OSError):
    """The project file is missing, is a directory without ``pyproject.toml``, or unreadable."""


class NaiveDatetimeError(ScheduledError, ValueError):
    """A datetime without a time zone was passed where an instant is needed."""


class EntrypointError(ScheduledError):
    """An entrypoint could not be imported, has no such attribute, or is not callable."""

    def __init__(self, entrypoint: str, message: str, code: str = "SCH210"):
        self.entrypoint = entrypoint
        self.code = code
        super().__init__(f"{entrypoint}: {message}")
