"""``scheduled run-once``: the manual trigger."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from scheduled_spec.cli.common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, ledger_failure
from scheduled_spec.cli.provider_options import (
    configure_logging,
    ledger_options,
    load_project,
    make_clock,
    open_project_ledger,
)
from scheduled_spec.provider.config import ProviderConfig
from scheduled_spec.provider.ledger import LedgerError, State
from scheduled_spec.provider.manual import run_once as run_job_once
from scheduled_spec.provider.runner import ChildRunner


def _stream(name: str, data: bytes) -> None:
    stream = sys.stdout if name == "stdout" else sys.stderr
    stream.buffer.write(data)
    stream.flush()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while inside; the old handler after."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command("run-once")
@click.argument("job_id")
@click.argument("path", default=".", type=click.Path())
@ledger_options
@click.option(
    "--timeout",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Seconds the run may take [default: the cadence's period].",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def run_once(
    job_id: str, path: str, ledger_url: str | None, timeout: float | None, log_format: str
) -> None:
    """Run JOB_ID now, once, with its output streaming to the terminal.

    The run is recorded as manual: it does not count for its period, whose scheduled run
    still happens. Exit 0 when the job succeeded, 1 when it failed, 2 when nothing could
    run (unknown job ID, invalid project, bad ledger URL), 75 when the ledger cannot be
    used now (unreachable, locked).

    \b
    Examples:
        scheduled run-once clean-files
        scheduled run-once nightly-report examples/demo
    """
    # First thing: SIGTERM stops a manual run as Ctrl-C does (its attempt stopped and
    # recorded abandoned), never by the default action, which left it recorded running
    # and its job running on.
    with _sigterm_interrupts():
        configure_logging(log_format)
        project = load_project(path, invalid_exit=EXIT_USAGE)
        try:
            project.job(job_id)
        except KeyError as exc:
            raise click.UsageError(str(exc.args[0])) from None
        clock = make_clock()
        assert project.root is not None  # noqa: S101 - loaded from a file
        ledger = open_project_ledger(ledger_url, project.root, clock)
        try:
            outcome = run_job_once(
                project,
                job_id,
                ledger,
                ChildRunner(sink=_stream),
                clock,
                ProviderConfig(timeout=timeout),
            )
        except OSError as exc:
            click.echo(f"{job_id}: could not start the job: {exc}", err=True)
            raise SystemExit(EXIT_USAGE) from None
        except LedgerError as exc:
            raise ledger_failure(exc) from None
        finally:
            ledger.close()
        if outcome.state is not State.SUCCEEDED:
            click.echo(f"{job_id}: {outcome.state}: {outcome.error}", err=True)
            raise SystemExit(EXIT_INVALID)
        raise SystemExit(EXIT_OK)
