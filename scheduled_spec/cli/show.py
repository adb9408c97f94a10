"""``scheduled show``: each job's slot in words and its next runs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from scheduled_spec.cli.common import (
    parse_instant,
    rfc3339,
    valid_project,
)
from scheduled_spec.models import Job, Project
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
    instant = parse_instant(now)
    project, filename = valid_project(
        path, otherwise="run `scheduled validate` for details", now=instant
    )
    rows = _rows(project, instant, count, salt)
    if fmt == "json":
        click.echo(
            json.dumps({"now": rfc3339(instant), "jobs": rows}, indent=2, ensure_ascii=False)
        )
        return
    if not rows:
        click.echo(f"{filename}: no jobs declared in [tool.scheduled]")
        return
    _render_table(rows, instant)


def _instant(t: datetime) -> str:
    """RFC 3339 UTC to the second, with milliseconds when a run is not on a whole second."""
    text = rfc3339(t)
    return text if not t.microsecond else f"{text[:-1]}.{t.microsecond // 1_000:03d}Z"


def _rows(project: Project, instant: datetime, count: int, salt: str) -> list[dict[str, Any]]:
    rows = []
    for job in project.jobs:
        runs: list[datetime] = []
        after = instant
        for _ in range(count):
            try:
                run = next_run(job, after, salt=salt)
            except (ValueError, OverflowError):
                break  # past 9999-12-31, or a cron whose year field has no run left
            runs.append(run.at)
            after = run.at
        row: dict[str, Any] = {
            "id": job.id,
            "every": job.every.value,
            "entrypoint": str(job.entrypoint),
            "offset_seconds": job.offset(salt),
            "slot": describe_slot(job.every, job.offset(salt)),
            "next_runs": [_instant(t) for t in runs],
        }
        if job.extension_keys:
            row.update(_extension_fields(job, runs, salt))
        rows.append(row)
    return rows


def _extension_fields(job: Job, runs: list[datetime], salt: str) -> dict[str, Any]:
    """Fields added for a job with extension keys (SPEC.md 7.4): never renaming the others."""
    from scheduled_spec.triggers import describe_schedule  # noqa: PLC0415 - extensions only

    words = describe_schedule(job, salt)
    fields: dict[str, Any] = {"slot": words, "schedule": words}
    if job.at is not None or job.cron is not None or job.interval is not None:
        fields["offset_seconds"] = None  # the hashed slot does not place these runs
    fields["extensions"] = list(job.extension_keys)
    if job.timezone is not None:
        zone = job.zone()
        fields["timezone"] = job.timezone
        fields["next_runs_local"] = [t.astimezone(zone).isoformat() for t in runs]
    return fields


def _render_table(rows: list[dict[str, Any]], instant: datetime) -> None:
    extended = any("extensions" in r for r in rows)
    local = any("timezone" in r for r in rows)
    headers: tuple[str, ...] = ("JOB", "EVERY", "ENTRYPOINT", "SCHEDULE" if extended else "SLOT")
    headers += ("NEXT RUNS (UTC)", "LOCAL TIME") if local else ("NEXT RUNS (UTC)",)
    keys = ("id", "every", "entrypoint", "slot")
    widths = [
        max(len(h), *(len(str(r[k])) for r in rows)) for h, k in zip(headers, keys, strict=False)
    ]
    widths.append(max([len(headers[4]), *(len(t) for r in rows for t in r["next_runs"])]))

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, [*widths, 0], strict=False)).rstrip()

    click.echo(f"now: {rfc3339(instant)}")
    click.echo(line(headers))
    for row in rows:
        runs = row["next_runs"] or ["(none before year 10000)"]
        if "extensions" in row and not row["next_runs"]:
            runs = ["(no run left)"]
        locals_ = row.get("next_runs_local", [])
        for i, run in enumerate(runs):
            cells = tuple(str(row[k]) for k in keys) if i == 0 else ("", "", "", "")
            click.echo(line((*cells, run, locals_[i] if i < len(locals_) else "")))
    for row in rows:
        if "extensions" in row:
            keys_used = ", ".join(row["extensions"])
            click.echo(f"{row['id']}: extension keys {keys_used} (not portable; see SPEC.md 9)")
