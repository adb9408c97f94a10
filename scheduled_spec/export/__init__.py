"""Export a project's schedule to schedulers people already run (README "Exporting").

Each target module turns a validated `Project` into files; the exported schedule fires at
the instants `scheduled show` lists, to the precision the target offers, and each entry
invokes ``scheduled run-once -- <job-id>`` in the project's directory. Extension schedules
(`at`, `timezone`, `cron`, `interval`) are written in the target's own syntax where it can
say them; a job the target cannot express raises `ExportError` naming the job and the
reason (README "Exporting" has the table of what each target can say).
"""

from __future__ import annotations

from scheduled_spec.export import crontab, github_actions, kubernetes, systemd
from scheduled_spec.export.base import ExportedFile, Exporter, ExportError, ExportOptions
from scheduled_spec.models import Project

__all__ = ["TARGETS", "ExportError", "ExportOptions", "ExportedFile", "export"]

#: The export targets by name.
TARGETS: dict[str, Exporter] = {
    "crontab": crontab.export,
    "systemd": systemd.export,
    "kubernetes": kubernetes.export,
    "github-actions": github_actions.export,
}


def export(target: str, project: Project, options: ExportOptions) -> list[ExportedFile]:
    """Export `project` to `target`. Raises ExportError, ValueError for an unknown target."""
    if target not in TARGETS:
        raise ValueError(f"unknown export target {target!r}; one of {', '.join(TARGETS)}")
    return TARGETS[target](project, options)
