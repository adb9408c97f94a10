"""``scheduled show``: each job's slot in words and its next runs."""

from __future__ import annotations

import json
from typing import Any

import click

from scheduled_spec.cli.common import (
    EXIT_INVALID,
    display_name,
    echo_issues,
    parse_instant,
    project_path,
    rfc3339,
)
from scheduled_spec.loader import validate as validate_project
from scheduled_spec.models import Project
from scheduled_spec.schedule import next_run
from scheduled_spec.slots import describe_slot


@click.command()
@click.argument("path", default=".", type=click.Path())
@click.option("--now", metavar="RFC3339", help="Compute from this instant instead of the clock.")
@click.option(
    "--count",
    type=click.IntRange(1, 1000),
    default=3,
    show_default=True,
    help="How many next runs to list per job.",
)
@click.option("--salt", default="", help="The provider's salt, if it uses one (SPEC.md 5.2).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def show(path: str, now: str | None, count: int, salt: str, fmt: str) -> None:
    """Show when each job runs: its slot in words and its next runs (UTC).

    PATH is a pyproject.toml or a directory holding one (default: the current directory).
    Nothing of the project's code is imported.

    \b
    Examples:
        scheduled show
        scheduled show examples/demo --now 2026-11-24T00:00:00Z --count 5
        scheduled show --format json | jq '.jobs[].next_runs[0]'
    """
    file = project_path(path)
    instant = parse_instant(now)
    report = validate_project(file, filename=display_name(file))
    if report.project is None:
        echo_issues(report.issues, report.filename)
        click.echo(f"{report.filename}: invalid; run `scheduled validate` for details", err=True)
        raise SystemExit(EXIT_INVALID)
    rows = _rows(report.project, instant, count, salt)
    if fmt == "json":
        click.echo(
            json.dumps({"now": rfc3339(instant), "jobs": rows}, indent=2, ensure_ascii=False)
        )
        return
    if not rows:
        click.echo(f"{report.filename}: no jobs declared in [tool.scheduled]")
        return
    _render_table(rows, instant)


def _rows(project: Project, instant: Any, count: int, salt: str) -> list[dict[str, Any]]:
    rows = []
    for job in project.jobs:
        offset = job.offset(salt)
        runs, after = [], instant
        for _ in range(count):
            try:
                run = next_run(job, after, salt=salt)
            except (ValueError, OverflowError):
                break  # past 9999-12-31, the last day Python's datetime can hold
            runs.append(rfc3339(run.at))
            after = run.at
        rows.append(
            {
                "id": job.id,
                "every": job.every.value,
                "entrypoint": str(job.entrypoint),
                "offset_seconds": offset,
                "slot": describe_slot(job.every, offset),
                "next_runs": runs,
            }
        )
    return rows


def _render_table(rows: list[dict[str, Any]], instant: Any) -> None:
    headers = ("JOB", "EVERY", "ENTRYPOINT", "SLOT", "NEXT RUNS (UTC)")
    keys = ("id", "every", "entrypoint", "slot")
    widths = [
        max(len(h), *(len(str(r[k])) for r in rows)) for h, k in zip(headers, keys, strict=False)
    ]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, [*widths, 0], strict=False)).rstrip()

    click.echo(f"now: {rfc3339(instant)}")
    click.echo(line(headers))
    for row in rows:
        first, *rest = row["next_runs"] or ["(none before year 10000)"]
        click.echo(line((*(str(row[k]) for k in keys), first)))
        for run in rest:
            click.echo(line(("", "", "", "", run)))
