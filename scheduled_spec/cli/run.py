"""``scheduled run``: the long-running provider."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

import click

from scheduled_spec.cli.common import EXIT_OK
from scheduled_spec.cli.provider_options import (
    configure_logging,
    ledger_options,
    load_project,
    make_clock,
    make_config,
    make_runner,
    open_project_ledger,
    provider_options,
)
from scheduled_spec.provider.loop import Provider


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
    (the next start runs them again).

    \b
    Examples:
        scheduled run
        scheduled run examples/demo --log-format json
        scheduled run --ledger sqlite:///var/lib/app/ledger.sqlite3 --max-parallel 4
    """
    configure_logging(log_format)
    project = load_project(path)
    clock = make_clock()
    config = make_config({**options, "log_format": log_format})
    assert project.root is not None  # loaded from a file  # noqa: S101
    ledger = open_project_ledger(ledger_url, project.root, clock)
    provider = Provider(
        project, ledger, make_runner(options["runner_name"], options["max_parallel"]), clock, config
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        provider.stop()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        provider.run()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        ledger.close()
    raise SystemExit(EXIT_OK)
