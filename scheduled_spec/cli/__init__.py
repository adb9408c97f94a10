"""The ``scheduled`` command: thin click commands over the library.

Every command parses its arguments, calls one library function and renders the result.
Exceptions become exit codes here, in one place:

    0  success (valid; warnings allowed unless --strict)
    1  the project is invalid, or a job failed
    2  usage error: bad arguments, a missing or unreadable file, an unknown job
"""

from __future__ import annotations

import sys

import click

from scheduled_spec import __version__
from scheduled_spec.cli.export import export_command
from scheduled_spec.cli.history import history
from scheduled_spec.cli.run import run
from scheduled_spec.cli.run_once import run_once
from scheduled_spec.cli.schema import schema
from scheduled_spec.cli.show import show
from scheduled_spec.cli.tick import tick
from scheduled_spec.cli.validate import validate

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="scheduled")
def cli() -> None:
    """Scheduled jobs declared in pyproject.toml.

    \b
    Declare a job:
        [tool.scheduled.clean-files]
        every = "day"                        # minute | hour | day | week | month
        entrypoint = "app.jobs:clean_files"  # importable.module:callable

    \b
    Then:
        scheduled validate            check the declarations (CI, pre-commit)
        scheduled show                when each job runs next
        scheduled run                 run the jobs (the reference provider)
        scheduled tick                run what is due now, then exit (cron, CI)
        scheduled run-once JOB        run one job now
        scheduled history             what ran, and how it ended
    """


cli.add_command(validate)
cli.add_command(show)
cli.add_command(run)
cli.add_command(tick)
cli.add_command(run_once)
cli.add_command(history)
cli.add_command(schema)
cli.add_command(export_command)


def main() -> None:
    """Entry point of the console script; never shows a traceback for a user's mistake."""
    try:
        cli.main(prog_name="scheduled")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
