"""What every export target shares: options, output files, the error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scheduled_spec.errors import ScheduledError
from scheduled_spec.models import Project


class ExportError(ScheduledError):
    """A job (or the whole project) cannot be expressed in the target scheduler."""

    def __init__(self, target: str, reasons: list[str], jobs: tuple[str, ...] = ()):
        self.target = target
        self.reasons = reasons
        #: The IDs of the jobs the target cannot express (empty: the problem is not a job's).
        self.jobs = jobs
        super().__init__(f"cannot export to {target}:\n" + "\n".join(f"  {r}" for r in reasons))


@dataclass(frozen=True)
class ExportedFile:
    """One file to write: a name relative to the output directory, and its text."""

    name: str
    text: str


@dataclass(frozen=True)
class ExportOptions:
    """What every target needs to know besides the project.

    `project_dir` is where the commands run (absolute); `command` is how to invoke
    scheduled-spec on the target machine; `salt` is passed to the slot rule.
    """

    project_dir: Path
    command: tuple[str, ...] = ("scheduled",)
    salt: str = ""
    image: str | None = None
    namespace: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


Exporter = Callable[[Project, ExportOptions], list[ExportedFile]]
