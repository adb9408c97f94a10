"""Export a project's schedule to schedulers people already run (README "Exporting").

Each target module turns a validated `Project` into files; the exported schedule fires at
the instants `scheduled show` lists, to the precision the target offers, and each entry
invokes ``scheduled run-once <job-id>`` in the project's directory. A job the target cannot
express raises `ExportError` naming the job and the reason.
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
    # The targets write the hashed UTC slot; a job whose runs `at`, `timezone`, `cron` or
    # `interval` place (SPEC.md part 9) would be exported at the wrong times.
    extended = [
        job
        for job in project.jobs
        if {"at", "timezone", "cron", "interval"} & set(job.extension_keys)
    ]
    if extended:
        raise ExportError(
            target,
            [
                f"{job.id}: uses {', '.join(job.extension_keys)}; extension schedules are not"
                " exported yet (SPEC.md part 9)"
                for job in extended
            ],
            tuple(job.id for job in extended),
        )
    return TARGETS[target](project, options)
