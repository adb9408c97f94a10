"""``scheduled tick``: run what is due now, wait for it, exit (for cron, CI and tests)."""

from __future__ import annotations

from typing import Any

import click

from scheduled_spec.cli.common import EXIT_INVALID, EXIT_OK, ledger_failure
from scheduled_spec.cli.provider_options import (
    configure_logging,
    ledger_options,
    load_project,
    make_clock,
    open_provider,
    provider_options,
    stop_on_signals,
)
from scheduled_spec.provider.ledger import LedgerError, State


@click.command()
@click.argument("path", default=".", type=click.Path())
@ledger_options
@click.option("--now", metavar="RFC3339", help="Decide as if it were this instant.")
@click.option("--dry-run", is_flag=True, help="List what would run; run and record nothing.")
@provider_options
def tick(
    path: str,
    ledger_url: str | None,
    now: str | None,
    dry_run: bool,
    log_format: str,
    **options: Any,
) -> None:
    """Run every job whose current period is due and not yet done, wait, exit.

    Also runs catch-up (per --catch-up) and re-runs periods left unfinished by a provider
    that died or was stopped. Ticking twice runs nothing the second time. Exit 0 when
    everything run succeeded (or nothing was due), 1 when any run failed or timed out, 75
    when the ledger could not be used (unreachable, connection lost, locked): the next
    tick tries again.

    \b
    Examples:
        scheduled tick                          # from system cron, every minute
        scheduled tick --dry-run
        scheduled tick --now 2026-11-24T10:00:00Z --runner inline
    """
    with stop_on_signals() as stop:  # first: a stop never kills it by the default action
        configure_logging(log_format)
        project = load_project(path)
        provider, ledger = open_provider(project, ledger_url, make_clock(now), log_format, options)
        try:
            if dry_run:
                for job_id, period, why in provider.due():
                    click.echo(f"{job_id}\t{period}\t{why}")
                raise SystemExit(EXIT_OK)
            stop.attach(provider)
            outcomes = provider.tick()
        except LedgerError as exc:
            raise ledger_failure(exc) from None
        finally:
            ledger.close()
        failed = [o for o in outcomes if o.state is not State.SUCCEEDED]
        raise SystemExit(EXIT_INVALID if failed else EXIT_OK)
    raise SystemExit(EXIT_OK)  # stopped before the provider existed: nothing ran
