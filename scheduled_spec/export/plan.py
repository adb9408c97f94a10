"""Each job's schedule as a target writes it, or one error naming every job it cannot."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from scheduled_spec.export.base import ExportError
from scheduled_spec.export.entries import Unexpressible, WallSchedule, wall_schedule
from scheduled_spec.models import Job, Project

T = TypeVar("T")


def plan(
    target: str, project: Project, salt: str, render: Callable[[Job, WallSchedule], T]
) -> dict[str, tuple[WallSchedule, T]]:
    """``{job ID: (schedule, render(job, schedule))}`` for every job of `project`.

    Raises ExportError naming each job whose schedule `render` (or `wall_schedule`)
    finds the target cannot express, with the reason, so ``--skip-unsupported`` can leave
    exactly those out.
    """
    done: dict[str, tuple[WallSchedule, T]] = {}
    reasons, refused = [], []
    for job in project.jobs:
        try:
            schedule = wall_schedule(job, salt)
            done[job.id] = (schedule, render(job, schedule))
        except Unexpressible as exc:
            reasons.append(f"job {json.dumps(job.id)}: {exc}")
            refused.append(job.id)
    if reasons:
        raise ExportError(target, reasons, tuple(refused))
    return done


def described(job: Job, schedule: WallSchedule) -> str:
    """``every day`` or ``every day, cron = "0 9 * * *" (Europe/Stockholm)``, for comments."""
    words = f"every {job.every.value}"
    if schedule.source != "the slot":
        words += f", {schedule.source}"
    if job.timezone is not None and not schedule.interval_ms:  # ticks are UTC
        words += f" ({job.timezone})"
    return words
