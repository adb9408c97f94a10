"""Export to GitHub Actions: one workflow, a ``schedule`` entry per job, manual dispatch."""

from __future__ import annotations

import json
import math
import re
from hashlib import sha256
from typing import Any

from scheduled_spec.cadence import Cadence
from scheduled_spec.export.base import ExportedFile, ExportError, ExportOptions
from scheduled_spec.export.cron_text import cron_lines, seconds_dropped, shortest_gap_minutes
from scheduled_spec.export.crontab import SECONDS_NOTE
from scheduled_spec.export.entries import Unexpressible, WallSchedule
from scheduled_spec.export.names import unique
from scheduled_spec.export.plan import plan
from scheduled_spec.export.policy import backstop_seconds, comment, dst_note, notes
from scheduled_spec.export.yaml_text import dump
from scheduled_spec.models import Job, Project

_JOB_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def job_key(job_id: str) -> str:
    """A workflow job key (letters, digits, "_" and "-", not starting with a digit)."""
    if _JOB_KEY.fullmatch(job_id) and len(job_id) <= 90:
        return job_id
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", job_id).strip("-")[:80]
    digest = sha256(job_id.encode("utf-8")).hexdigest()[:8]
    return f"job-{stem}-{digest}" if stem else f"job-{digest}"


def _literal(text: str) -> str:
    """A string literal of GitHub's expression language."""
    return "'" + text.replace("'", "''") + "'"


def github_crons(job: Job, schedule: WallSchedule) -> list[str]:
    """The job's cron lines, at least five minutes apart. Raises Unexpressible."""
    if schedule.source == "the slot" and job.every is Cadence.MINUTE:
        raise Unexpressible(f'every = "minute" cannot run on GitHub Actions, {_FIVE_MINUTES}')
    if schedule.interval_ms and schedule.interval_ms < 300_000:
        raise Unexpressible(f"{schedule.source} cannot run on GitHub Actions, {_FIVE_MINUTES}")
    lines = cron_lines(schedule)
    if not schedule.interval_ms:
        gaps = [shortest_gap_minutes(entry) for entry in schedule.entries]
        close = min((gap for gap in gaps if gap is not None), default=None)
        if close is not None and close < 5:
            raise Unexpressible(
                f"{schedule.source} runs {close} minute{'s' if close > 1 else ''} apart,"
                f" and GitHub Actions' {_FIVE_MINUTES[6:]}"
            )
    return lines


_FIVE_MINUTES = "whose schedules run at most once every 5 minutes"


def _distinct_events(project: Project, planned: dict[str, tuple[WallSchedule, list[str]]]) -> None:
    """A run tells its schedule only by the cron text (github.event.schedule): the same
    text in two time zones would start both jobs."""
    seen: dict[str, tuple[str, str]] = {}
    reasons, refused = [], []
    for job in project.jobs:
        schedule, crons = planned[job.id]
        for cron in crons:
            first = seen.setdefault(cron, (job.id, schedule.zone))
            if first[1] != schedule.zone:
                reasons.append(
                    f"job {json.dumps(job.id)}: its schedule {json.dumps(cron)} ({schedule.zone})"
                    f" is also job {json.dumps(first[0])}'s in {first[1]}, and a workflow tells"
                    " its schedules apart by the cron text only (github.event.schedule)"
                )
                refused.append(job.id)
                break
    if reasons:
        raise ExportError("github-actions", reasons, tuple(refused))


def workflow(
    project: Project, options: ExportOptions, planned: dict[str, tuple[WallSchedule, list[str]]]
) -> dict[str, Any]:
    """The workflow document."""
    keys = unique("github-actions", {job.id: job_key(job.id) for job in project.jobs})
    install = options.extra.get("install", "pip install scheduled-spec")
    jobs: dict[str, Any] = {}
    schedules: dict[tuple[str, str], dict[str, str]] = {}
    for job in project.jobs:
        schedule, crons = planned[job.id]
        for cron in crons:
            entry = (
                {"cron": cron}
                if schedule.zone == "UTC"
                else {"cron": cron, "timezone": schedule.zone}
            )
            schedules.setdefault((cron, schedule.zone), entry)
        condition = " || ".join(
            [
                *(f"github.event.schedule == {_literal(cron)}" for cron in crons),
                f"inputs.job == {_literal(job.id)}",
            ]
        )
        run = " ".join([*options.command, "run-once", "--", '"$JOB_ID"', '"$PROJECT_DIR"'])
        # The ID travels in the environment, never inside the shell text.
        step: dict[str, Any] = {
            "run": run,
            "env": {"JOB_ID": job.id, "PROJECT_DIR": str(options.project_dir)},
        }
        minutes = min(360, max(5, job.every.seconds // 60))
        backstop = backstop_seconds(job)
        if backstop is not None:
            step["timeout-minutes"] = min(360, math.ceil(backstop / 60))
            minutes = min(360, step["timeout-minutes"] + 10)  # and the set-up steps
        body: dict[str, Any] = {"name": job.id, "if": condition, "runs-on": "ubuntu-latest"}
        if job.overlap == "buffer-one":
            # One run at a time and one waiting, the newest: the provider's buffer-one.
            body["concurrency"] = {
                "group": f"scheduled-{keys[job.id]}",
                "cancel-in-progress": False,
            }
        body["timeout-minutes"] = minutes
        body["steps"] = [
            {"uses": "actions/checkout@v4"},
            {"uses": "actions/setup-python@v5", "with": {"python-version": "3.12"}},
            {"run": install},
            step,
        ]
        jobs[keys[job.id]] = body
    return {
        "name": "scheduled jobs",
        "on": {
            "schedule": list(schedules.values()),
            "workflow_dispatch": {
                "inputs": {
                    "job": {
                        "description": "Run this job now",
                        "required": True,
                        "type": "choice",
                        "options": [job.id for job in project.jobs],
                    }
                }
            },
        },
        "jobs": jobs,
    }


def export(project: Project, options: ExportOptions) -> list[ExportedFile]:
    """``scheduled.yml``, for ``.github/workflows/``."""
    if not project.jobs:
        raise ExportError("github-actions", ["the project declares no jobs"])
    planned = plan("github-actions", project, options.salt, github_crons)
    _distinct_events(project, planned)
    header = [
        "# Generated by `scheduled export github-actions`. GitHub runs schedules in UTC (or an",
        "# entry's timezone) and may start them late under load; each job also runs by hand",
        "# (Actions > Run workflow).",
    ]
    if any(seconds_dropped(schedule) for schedule, _ in planned.values()):
        header += comment(SECONDS_NOTE)
    for zone in sorted({schedule.zone for schedule, _ in planned.values()}):
        local = [
            j.id for j in project.jobs if planned[j.id][0].zone == zone and planned[j.id][0].local
        ]
        header += comment(dst_note(zone, local, "github-actions") or "")
    for job in project.jobs:
        for note in notes(job, "github-actions"):
            header += comment(note)
        if job.timeout is not None and (backstop_seconds(job) or 0) > 21_600:
            header += comment(
                f"job {json.dumps(job.id)}: GitHub stops a job after 6 hours, before its"
                f" timeout = {job.timeout:g}"
            )
    return [
        ExportedFile(
            "scheduled.yml", "\n".join(header) + "\n" + dump(workflow(project, options, planned))
        )
    ]
