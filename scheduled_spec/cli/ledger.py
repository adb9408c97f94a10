"""``scheduled ledger init``: create the ledger (its file, or its PostgreSQL schema) now."""

from __future__ import annotations

import click

from scheduled_spec.cli.common import ledger_failure, project_path
from scheduled_spec.cli.provider_options import default_ledger_url, ledger_options, make_clock
from scheduled_spec.provider.ledger import LedgerError, LedgerNotFoundError, open_ledger


@click.group()
def ledger() -> None:
    """Manage the ledger where runs are recorded."""


@ledger.command()
@click.argument("path", default=".", type=click.Path())
@ledger_options
def init(path: str, ledger_url: str | None) -> None:
    """Create the ledger now, instead of at the provider's first start.

    For operators who create schemas ahead of deploys: a PostgreSQL ledger's tables go in
    the schema the URL names (``?schema=NAME``, default ``scheduled``), with its schema
    version recorded. Running it again changes nothing. Exit 0 when the ledger is ready,
    75 when it cannot be reached now (run it again later), 2 for a bad URL or a ledger
    newer than this version.

    \\b
    Examples:
        scheduled ledger init --ledger postgresql://app@db:5432/app
        scheduled ledger init --ledger 'postgresql://app@db/app?schema=jobs'
        SCHEDULED_LEDGER=postgresql://app@db/app scheduled ledger init
    """
    url = ledger_url or default_ledger_url(project_path(path).parent)
    try:
        try:
            existing = open_ledger(url, clock=make_clock(), create=False)
        except LedgerNotFoundError:
            opened, verb = open_ledger(url, clock=make_clock()), "created"
        else:
            opened, verb = existing, "already exists"
        opened.close()
    except LedgerError as exc:
        raise ledger_failure(exc) from None
    click.echo(f"ledger {opened.url} {verb}")
