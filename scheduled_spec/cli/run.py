"""``scheduled run``: the long-running provider."""

from __future__ import annotations

from typing import Any

import click

from scheduled_spec.cli.common import EXIT_OK, EXIT_TEMPFAIL
from scheduled_spec.cli.provider_options import (
    configure_logging,
    ledger_options,
    load_project,
    make_clock,
    open_provider,
    provider_options,
    stop_on_signals,
)
from scheduled_spec.provider.ledger import LedgerReplacedError


@click.command()
@click.argument("path", default=".", type=click.Path())
@ledger_options
@provider_options
def run(path: str, ledger_url: str | None, log_format: str, **options: Any) -> None:
    """Run the provider: each job at least once per cadence, until SIGTERM or Ctrl-C.

    PATH is a pyproject.toml or a directory holding one (default: the current directory).
    Each run executes in a child process with the project root first on sys.path, and is
    recorded in the ledger before it starts. On SIGTERM/SIGINT, claiming stops at once;
    running jobs get --shutdown-grace seconds, then are stopped and recorded abandoned
    (the next start runs them again). Exits 75 when the SQLite ledger's file is deleted or
    replaced under it, for a supervisor to start it on the file now at the path.

    \b
    Examples:
        scheduled run
        scheduled run examples/demo --log-format json
        scheduled run --ledger sqlite:///var/lib/app/ledger.sqlite3 --max-parallel 4
        SCHEDULED_LEDGER=postgresql://app@db/app scheduled run   # on every replica
    """
    with stop_on_signals() as stop:  # first: a stop never kills it by the default action
        configure_logging(log_format)
        project = load_project(path)
        provider, ledger = open_provider(
            project, ledger_url, make_clock(), log_format, options, wait_for_ledger=True
        )
        try:
            stop.attach(provider)
            provider.run()
        except LedgerReplacedError:  # logged as an ERROR: restart on the file now at the path
            raise SystemExit(EXIT_TEMPFAIL) from None
        finally:
            ledger.close()
    raise SystemExit(EXIT_OK)
