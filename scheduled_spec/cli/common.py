"""What several commands share: finding the project, parsing times, reporting issues."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scheduled_spec.errors import Issue, ProjectFileError
from scheduled_spec.loader import resolve_path, validate
from scheduled_spec.models import Project

if TYPE_CHECKING:
    from scheduled_spec.provider.ledger import LedgerError

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
# EX_TEMPFAIL of sysexits.h: the ledger cannot be used now and the same command may succeed
# later, so a supervisor should start it again; exit 2 says the input will never work.
EXIT_TEMPFAIL = 75


class TemporaryFailure(click.ClickException):
    """Exit 75 (EX_TEMPFAIL): the same command may succeed later."""

    exit_code = EXIT_TEMPFAIL


def ledger_failure(exc: LedgerError) -> click.ClickException:
    """How every command reports a ledger error: exit 75, with what to do, for one that may
    pass (unreachable, connection lost, deadlocked, locked, the SQLite file deleted or
    replaced); exit 2 for the rest (an unknown scheme, a malformed URL, a schema newer than
    this version)."""
    # Imported on failure only: `validate` and `show` never load the provider.
    from scheduled_spec.provider.ledger import (  # noqa: PLC0415
        LedgerReplacedError,
        LedgerUnavailableError,
    )

    if isinstance(exc, LedgerReplacedError):  # says what to do
        return TemporaryFailure(str(exc))
    if isinstance(exc, LedgerUnavailableError):
        return TemporaryFailure(
            f"{exc}; the ledger is unavailable for now: run the command again once it"
            f" answers (exit {EXIT_TEMPFAIL})"
        )
    return click.UsageError(str(exc))


def project_path(path: str) -> Path:
    """The pyproject.toml named by PATH (a file or a directory); exit 2 when there is none."""
    try:
        return resolve_path(path)
    except ProjectFileError as exc:
        raise click.UsageError(str(exc)) from None


def display_name(path: Path) -> str:
    """The path as the user would write it: relative to the current directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative


_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})?"
)


def parse_instant(text: str | None, option: str = "--now") -> datetime:
    """An RFC 3339 instant (``2026-11-24T10:00:00Z``); the current time when None."""
    if text is None:
        return datetime.now(timezone.utc)
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise click.BadParameter(
            f"expected an RFC 3339 instant such as 2026-11-24T10:00:00Z, got {text!r}",
            param_hint=option,
        )
    day, clock, fraction, zone = match.groups()
    if zone is None:
        raise click.BadParameter(
            f"{text!r} has no time zone; add Z for UTC or an offset such as +01:00",
            param_hint=option,
        )
    # Python 3.10's fromisoformat takes only 3 or 6 fraction digits and no "Z": normalise.
    micro = f".{(fraction + '000000')[:6]}" if fraction else ""
    offset = "+00:00" if zone in ("Z", "z") else zone
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}{micro}{offset}")
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r} is not a valid instant: {exc}", param_hint=option
        ) from None
    return parsed.astimezone(timezone.utc)


def rfc3339(t: datetime) -> str:
    """``2026-11-24T08:15:12Z``: UTC, seconds precision."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def echo_issues(issues: tuple[Issue, ...], filename: str) -> None:
    for issue in issues:
        click.echo(issue.describe(filename), err=True)


def valid_project(
    path: str, *, otherwise: str, exit_code: int = EXIT_INVALID, now: datetime | None = None
) -> tuple[Project, str]:
    """The validated project at PATH and its display name.

    `now` starts the promise proofs (SPEC.md 9.8), so that a counterexample the command
    prints is the one at or after the instant the command works from.

    When it is invalid, print its issues, then ``FILE: invalid; <otherwise>``, and exit
    `exit_code`: the one way every command but `validate` refuses an invalid project.
    """
    file = project_path(path)
    report = validate(file, filename=display_name(file), now=now)
    if report.project is None:
        echo_issues(report.issues, report.filename)
        click.echo(f"{report.filename}: invalid; {otherwise}", err=True)
        raise SystemExit(exit_code)
    return report.project, report.filename
