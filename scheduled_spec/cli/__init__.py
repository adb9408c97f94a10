"""The ``scheduled`` command: thin click commands over the library.

Every command parses its arguments, calls one library function and renders the result.
Exceptions become exit codes here, in one place:

    0  success (valid; warnings allowed unless --strict)
    1  the project is invalid, or a job failed
    2  usage error: bad arguments, a missing or unreadable file, an unknown job, a bad
       ledger URL, a ledger newer than this version
   75  the ledger cannot be used now (unreachable, connection lost, locked); the same
       command may succeed later (EX_TEMPFAIL: a supervisor restarts it)
"""

from __future__ import annotations

import difflib
import importlib
import sys

import click

from scheduled_spec import __version__

# Each command's module is imported only when that command runs, so that a quick
# `scheduled validate` in a pre-commit hook does not pay for the provider or the exports.
COMMANDS = {
    "validate": "scheduled_spec.cli.validate:validate",
    "show": "scheduled_spec.cli.show:show",
    "run": "scheduled_spec.cli.run:run",
    "tick": "scheduled_spec.cli.tick:tick",
    "run-once": "scheduled_spec.cli.run_once:run_once",
    "history": "scheduled_spec.cli.history:history",
    "ledger": "scheduled_spec.cli.ledger:ledger",
    "schema": "scheduled_spec.cli.schema:schema",
    "export": "scheduled_spec.cli.export:export_command",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use, and that suggests close names."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if args and name not in COMMANDS and not name.startswith("-"):
            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            ctx.fail(f"no such command {name!r}{hint}; see 'scheduled --help'")
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        module, _, name = where.partition(":")
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)  # noqa: S101 - a wiring mistake, caught by tests
        return command


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=LazyGroup, context_settings=CONTEXT)
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
        scheduled ledger init         create the ledger (e.g. a PostgreSQL schema) now
        scheduled export TARGET       the schedule for crontab, systemd, Kubernetes, GitHub
        scheduled schema              the JSON Schema of [tool.scheduled]
    """


def main() -> None:
    """Entry point of the console script; never shows a traceback for a user's mistake."""
    try:
        cli.main(prog_name="scheduled")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
