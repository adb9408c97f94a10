"""The command an exported entry runs, and quoting it safely for each target."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from scheduled_spec.export.base import ExportOptions


def run_once_argv(job_id: str, options: ExportOptions, extra: Sequence[str] = ()) -> list[str]:
    """``scheduled run-once [extra] -- <job-id> <project dir>`` as an argument list.

    ``--`` ends the options, so that an ID such as ``--help`` or ``-x`` is the job's.
    """
    return [*options.command, "run-once", *extra, "--", job_id, str(options.project_dir)]


def shell_command(argv: list[str]) -> str:
    """A POSIX shell command line whose words are exactly `argv`."""
    return shlex.join(argv)


def crontab_command(argv: list[str]) -> str:
    """A crontab command field: a shell line in which cron's `%` (newline) is escaped."""
    return shell_command(argv).replace("%", "\\%")


def systemd_exec(argv: list[str]) -> str:
    """An ``ExecStart=`` value: each word double-quoted, with systemd's specifiers escaped."""

    def word(text: str) -> str:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return '"' + escaped.replace("%", "%%").replace("$", "$$") + '"'

    return " ".join(word(arg) for arg in argv)
