"""``scheduled validate``: check declarations, for people, CI and pre-commit."""

from __future__ import annotations

import json
from collections.abc import Iterable

import click

from scheduled_spec.cadence import Cadence
from scheduled_spec.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    display_name,
    parse_instant,
    project_path,
)
from scheduled_spec.errors import Severity
from scheduled_spec.loader import Report
from scheduled_spec.loader import validate as validate_project
from scheduled_spec.models import suggest_cadence


def _cadences(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> frozenset[Cadence] | None:
    if value is None:
        return None
    chosen = set()
    for name in filter(None, (part.strip() for part in value.split(","))):
        try:
            chosen.add(Cadence(name))
        except ValueError:
            guess = suggest_cadence(name)
            hint = f' (did you mean "{guess}"?)' if guess else ""
            raise click.BadParameter(
                f'expected a comma-separated list of minute, hour, day, week, month, got "{name}"'
                + hint,
                ctx,
                param,
            ) from None
    if not chosen:
        raise click.BadParameter("name at least one cadence", ctx, param)
    return frozenset(chosen)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=True, file_okay=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text for people, json for tools, github for annotations.",
)
@click.option(
    "--cadences",
    callback=_cadences,
    metavar="LIST",
    help="Cadences your provider supports, e.g. day,month; jobs with others are errors.",
)
@click.option(
    "--check-imports",
    is_flag=True,
    help="Also import each entrypoint (in a child process) and check it is callable.",
)
@click.option(
    "--import-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="With --check-imports: time allowed per child process.",
)
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too.")
@click.option(
    "--portable",
    is_flag=True,
    help="Jobs that use extension keys (at, cron, interval, ...) are errors (SCH320).",
)
@click.option(
    "--now",
    metavar="RFC3339",
    help="Start the promise proofs of extension schedules here instead of the clock.",
)
def validate(
    paths: tuple[str, ...],
    fmt: str,
    cadences: frozenset[Cadence] | None,
    check_imports: bool,
    import_timeout: float,
    strict: bool,
    portable: bool,
    now: str | None,
) -> None:
    """Check the [tool.scheduled] jobs of one or more projects.

    PATH is a pyproject.toml or a directory holding one (default: the current directory).
    Every problem is reported at once, as FILE:LINE:COLUMN: CODE PATH: MESSAGE (HINT).
    Nothing of the project's code is imported unless --check-imports is given.
    Schedules that use extension keys are proven to keep their `every` from --now (default:
    the current time) on; a broken promise is a warning (SCH310).

    \b
    Exit status: 0 valid (warnings allowed), 1 invalid (or any warning with --strict),
    2 usage error (such as a missing file).

    \b
    Examples:
        scheduled validate
        scheduled validate services/*/pyproject.toml --format github
        scheduled validate --cadences day,month --check-imports --strict
        scheduled validate --portable --now 2026-11-24T00:00:00Z
    """
    files = [project_path(p) for p in (paths or (".",))]
    instant = parse_instant(now)
    reports = [
        validate_project(
            path,
            cadences=cadences,
            filename=display_name(path),
            check_imports=check_imports,
            import_timeout=import_timeout,
            now=instant,
            portable=portable,
        )
        for path in files
    ]
    render = {"text": _render_text, "json": _render_json, "github": _render_github}[fmt]
    render(reports, strict)
    failed = any(not _passes(report, strict) for report in reports)
    raise SystemExit(EXIT_INVALID if failed else EXIT_OK)


def _passes(report: Report, strict: bool) -> bool:
    if strict:
        return not any(i.severity is not Severity.INFO for i in report.issues)
    return report.valid


def _render_text(reports: Iterable[Report], strict: bool) -> None:
    for report in reports:
        for issue in report.issues:
            click.echo(issue.describe(report.filename))
        errors = sum(i.severity is Severity.ERROR for i in report.issues)
        warnings = sum(i.severity is Severity.WARNING for i in report.issues)
        counts = ", ".join(
            f"{n} {word}{'s' if n != 1 else ''}"
            for n, word in ((errors, "error"), (warnings, "warning"))
            if n
        )
        verdict = "ok" if _passes(report, strict) else "invalid"
        jobs = f"{report.jobs} job{'s' if report.jobs != 1 else ''}"
        click.echo(f"{report.filename}: {verdict}, {jobs}" + (f", {counts}" if counts else ""))


def _render_json(reports: Iterable[Report], strict: bool) -> None:
    files = [
        {
            "path": report.filename,
            "valid": _passes(report, strict),
            "jobs": report.jobs,
            "issues": [issue.to_dict() for issue in report.issues],
        }
        for report in reports
    ]
    click.echo(
        json.dumps(
            {"valid": all(f["valid"] for f in files), "files": files}, indent=2, ensure_ascii=False
        )
    )


def _github_escape(text: str, *, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def _render_github(reports: Iterable[Report], strict: bool) -> None:
    command = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    for report in reports:
        for issue in report.issues:
            level = command[issue.severity]
            if strict and issue.severity is Severity.WARNING:
                level = "error"
            props = [f"file={_github_escape(report.filename, property_value=True)}"]
            if issue.line is not None:
                props.append(f"line={issue.line}")
            if issue.column is not None:
                props.append(f"col={issue.column}")
            props.append(f"title={issue.code}")
            subject = f"{issue.path}: " if issue.path else ""
            text = subject + issue.message + (f" ({issue.hint})" if issue.hint else "")
            click.echo(f"::{level} {','.join(props)}::{_github_escape(text)}")
