"""The run policy keys (SPEC.md 9.7) and the DST rule (9.3.3-9.3.4) in the targets' words.

`timeout` is enforced by the exported command itself (``run-once`` stops a run at the
job's `timeout`), in every target; each target adds its own limit a little later as a
backstop. The other keys are mapped where the target has an equivalent; where it has
none, or only an approximation, `notes` says so in a comment of the output, so that no key
is dropped silently.
"""

from __future__ import annotations

import json
import math
import textwrap
from datetime import datetime, timezone

from scheduled_spec.extensions import load_zone
from scheduled_spec.local_periods import transitions
from scheduled_spec.models import Job

#: Seconds a target's own time limit allows past `timeout`: run-once's SIGTERM, its kill
#: grace (10 s) and recording the outcome.
BACKSTOP_SECONDS = 30
_DST_FROM = datetime(2000, 1, 1, tzinfo=timezone.utc)  # the library's proof start (9.8.2)

# What each target does with a key it cannot map, by key and value (None: any value).
_UNENFORCED: dict[str, dict[tuple[str, str | None], str]] = {
    "crontab": {
        ("retries", None): "cron runs each entry once and run-once makes one attempt",
        ("overlap", "skip"): "cron starts every entry, even while the previous run still runs",
        ("overlap", "buffer-one"): (
            "cron starts every entry, even while the previous run still runs"
        ),
        ("catch-up", "latest"): "cron never runs an entry it missed (the host was down)",
        ("catch-up", "all"): "cron never runs an entry it missed (the host was down)",
    },
    "systemd": {
        ("retries", None): "the service runs once per elapse and run-once makes one attempt",
        ("overlap", "allow"): (
            "systemd does not start a service that is still running: that run is skipped"
        ),
        ("overlap", "buffer-one"): (
            "systemd does not start a service that is still running: that run is skipped"
        ),
        ("catch-up", "all"): "Persistent=true runs only the latest missed elapse",
    },
    "kubernetes": {
        ("overlap", "buffer-one"): (
            "a CronJob has no queue of one: concurrencyPolicy Forbid skips that run"
        ),
        ("catch-up", "all"): "the CronJob controller starts only the latest missed run",
        ("immediately", None): (
            "a CronJob has no start-up run; start one with kubectl create job --from=cronjob/NAME"
        ),
    },
    "github-actions": {
        ("retries", None): "a scheduled workflow runs once and run-once makes one attempt",
        ("overlap", "skip"): (
            "GitHub has no way to drop a run while one runs (a concurrency group queues it)"
        ),
        ("catch-up", "latest"): "GitHub never runs a schedule it missed; it may run one late",
        ("catch-up", "all"): "GitHub never runs a schedule it missed; it may run one late",
        ("immediately", None): (
            "a workflow has no start-up run; run the job by hand (Actions > Run workflow)"
        ),
    },
}

# What each target does on the days a zone's clocks change, where it differs from
# `scheduled show` (which runs a nonexistent wall time shifted forward by the gap, and a
# repeated one once, at its first occurrence).
_DST = {
    "crontab": "cron daemons differ there, and may skip, move or repeat such a run",
    "systemd": (
        "systemd skips a run whose wall time does not exist, and runs a repeated one once,"
        " at its first occurrence"
    ),
    "kubernetes": (
        "the CronJob controller skips a run whose wall time does not exist, and may run a"
        " repeated one twice"
    ),
    "github-actions": (
        "GitHub moves a run whose wall time does not exist to the end of the gap (02:30 runs"
        " at 03:00, not 03:30), and does not say what it does with a repeated one"
    ),
}


def backstop_seconds(job: Job) -> int | None:
    """The target's own time limit for a job with `timeout`: whole seconds, a margin later."""
    return None if job.timeout is None else math.ceil(job.timeout) + BACKSTOP_SECONDS


def _value(job: Job, key: str) -> str | None:
    value = {
        "retries": job.retries,
        "overlap": job.overlap,
        "catch-up": job.catch_up,
        "immediately": job.immediately or None,
    }[key]
    return None if value is None else str(value)


def notes(job: Job, target: str) -> list[str]:
    """Comment lines (without ``#``) for the run policy keys `target` does not enforce."""
    found = []
    for key in ("immediately", "retries", "overlap", "catch-up"):
        value = _value(job, key)
        if value is None:
            continue
        table = _UNENFORCED[target]
        why = table.get((key, value)) or table.get((key, None))
        if why is not None:
            shown = "true" if key == "immediately" else _toml(key, value)
            found.append(f"job {json.dumps(job.id)}: {key} = {shown} is not enforced: {why}")
    return found


def _toml(key: str, value: str) -> str:
    return value if key == "retries" else json.dumps(value)


def dst_note(zone: str, job_ids: list[str], target: str) -> str | None:
    """A comment for the jobs read on `zone`'s wall clock, when its clocks change."""
    if not job_ids or not zone_changes(zone):
        return None
    names = ", ".join(json.dumps(job_id) for job_id in job_ids)
    return (
        f"{zone} changes its clocks (daylight saving time): on those days scheduled show runs"
        " a wall time that does not exist shifted forward by the gap, and one that repeats"
        f" once, at its first occurrence (SPEC.md 9.3); {_DST[target]}. Jobs: {names}."
    )


def zone_changes(zone: str) -> bool:
    """Whether the zone has changed its UTC offset since 2000 (daylight saving time)."""
    if zone in ("UTC", "Etc/UTC"):
        return False
    return bool(transitions(load_zone(zone), _DST_FROM, 60))


def comment(text: str) -> list[str]:
    """`text` as ``# `` comment lines of about 92 characters.

    No line ends with a backslash, which systemd would read as a continuation.
    """
    lines: list[str] = []
    for line in textwrap.wrap(text, 90, break_on_hyphens=False):
        if lines and lines[-1].endswith("\\"):
            lines[-1] += " " + line
        else:
            lines.append(line)
    if lines and lines[-1].endswith("\\"):
        lines[-1] += " ."
    return ["# " + line for line in lines]
