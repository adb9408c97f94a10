"""``scheduled history``: what ran, when, for which period, and how it ended."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import click

from scheduled_spec.cli.common import ledger_failure, project_path
from scheduled_spec.cli.provider_options import default_ledger_url, ledger_options, make_clock
from scheduled_spec.provider.ledger import (
    HistoryEntry,
    LedgerError,
    LedgerNotFoundError,
    open_ledger,
)


def _time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_dict(entry: HistoryEntry, output: bool) -> dict[str, Any]:
    """One history line as JSON-ready data."""
    run, attempt = entry.run, entry.attempt
    data: dict[str, Any] = {
        "run_id": run.run_id,
        "job": run.job_id,
        "kind": str(run.kind),
        "period": run.period_key,
        "last_period": run.last_period_key,
        "periods": run.missed_count or 1,
        "state": str(run.state),
        "fence": run.fence,
        "recorded_at": _time(run.created_at),
        "started_at": _time(attempt.started_at) if attempt else None,
        "attempt": attempt.attempt if attempt else None,
        "outcome": str(attempt.outcome) if attempt else str(run.state),
        "duration": round(attempt.duration, 3) if attempt else None,
        "error": (attempt.error if attempt else run.error),
    }
    if output and attempt is not None:
        data["output"] = attempt.output
    return data


@click.command()
@click.argument("path", default=".", type=click.Path())
@ledger_options
@click.option("--job", "job_id", metavar="ID", help="Only this job's runs.")
@click.option(
    "--limit", type=click.IntRange(1), default=50, show_default=True, help="Most runs shown."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--output", "show_output", is_flag=True, help="Include each attempt's captured output (json)."
)
def history(
    path: str, ledger_url: str | None, job_id: str | None, limit: int, fmt: str, show_output: bool
) -> None:
    """Show what ran: when, for which period, attempt, outcome, duration, error.

    Reads the ledger only (it creates no file or schema); the project need not be valid
    (its directory locates the default ledger). Exit 75 when the ledger cannot be read now
    (unreachable, locked), 2 for a bad ledger URL.

    \b
    Examples:
        scheduled history
        scheduled history --job clean-files --limit 10
        scheduled history --format json --output | jq '.[0].output'
    """
    url = ledger_url or default_ledger_url(project_path(path).parent)
    try:
        ledger = open_ledger(url, clock=make_clock(), create=False)
        try:
            entries = ledger.history(job_id, limit)
        finally:
            ledger.close()
    except LedgerNotFoundError:
        entries = []  # nothing ran yet; reading creates nothing
    except LedgerError as exc:
        raise ledger_failure(exc) from None
    rows = [entry_dict(e, show_output) for e in entries]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no runs recorded yet")
        return
    headers = ("STARTED (UTC)", "JOB", "KIND", "PERIOD", "ATTEMPT", "OUTCOME", "DURATION", "ERROR")
    table = [headers]
    for r in rows:
        period = r["period"]
        if r["last_period"]:
            period = f"{period}..{r['last_period']} ({r['periods']})"
        duration = "" if r["duration"] is None else f"{r['duration']:.2f}s"
        table.append(
            (
                r["started_at"] or r["recorded_at"],
                r["job"],
                r["kind"],
                period,
                "" if r["attempt"] is None else str(r["attempt"]),
                r["outcome"],
                duration,
                r["error"] or "",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(headers) - 1)]
    for row in table:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
