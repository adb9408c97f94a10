"""When does a job with extension keys run (SPEC.md part 9): slots and `at` in local periods,
`cron`, `interval`; and every job's schedule in words.

`scheduled_spec.schedule` hands jobs whose schedule uses `at`, `timezone`, `cron` or
`interval` to this module; portable jobs never load it. Pure, like the rest of the core.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from scheduled_spec.cadence import Cadence
from scheduled_spec.extensions import Trigger, describe_wall, phase_ms, slot_at_time
from scheduled_spec.local_periods import first_instant, is_fixed, run_instant, wall_bounds, wall_key
from scheduled_spec.models import Job
from scheduled_spec.schedule import Run, instant_key, placed_by_extension
from scheduled_spec.slots import describe_slot

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TINY = timedelta(microseconds=1)
_MAX_PERIODS = 8  # an empty local period is followed by a non-empty one


def next_extended_run(job: Job, after: datetime, salt: str = "") -> Run:
    """The first run strictly after the aware `after` of a job with an extension schedule.

    Raises ValueError when a cron expression has no run after `after` (its year field is
    exhausted).
    """
    found = job.trigger()
    if found.kind == "cron":
        assert found.cron is not None  # noqa: S101 - the kind says so
        at = found.cron.next_after(after, found.zone)
        if at is None:
            raise ValueError(f"cron {found.cron.text!r} has no run after {after.isoformat()}")
        return Run(job.id, instant_key(at), at)
    if found.kind == "interval":
        return _next_tick(job, found, after, salt)
    return _next_local(job, found, after, salt)


def _next_tick(job: Job, found: Trigger, after: datetime, salt: str) -> Run:
    step = found.interval_ms * 1_000  # microseconds
    phase = phase_ms(job.id, found.interval_ms, salt) * 1_000
    elapsed = (after - _EPOCH) // _TINY
    tick = phase + ((elapsed - phase) // step + 1) * step
    at = _EPOCH + timedelta(microseconds=tick)
    return Run(job.id, instant_key(at), at)


def _next_local(job: Job, found: Trigger, after: datetime, salt: str) -> Run:
    """One run per local period, at its wall offset, placed with the DST rule."""
    every, tz = job.every, found.zone
    due = found.at.offset if found.at is not None else timedelta(seconds=job.offset(salt))
    wall = after.astimezone(tz).replace(tzinfo=None, fold=0)
    # Start one period early: a run shifted forward out of a gap can land after `after`.
    start = wall_bounds(every, wall_bounds(every, wall)[0] - _TINY)[0]
    fixed = is_fixed(tz)
    for _ in range(_MAX_PERIODS):
        end = wall_bounds(every, start)[1]
        if fixed or first_instant(start, tz) < first_instant(end, tz):  # not inside a gap
            run = run_instant(start + due, tz)
            if run > after:
                return Run(job.id, wall_key(every, start), run)
        start = end
    raise AssertionError("unreachable: a later local period always exists")  # pragma: no cover


def extended_runs_between(
    job: Job, start: datetime, end: datetime, salt: str = ""
) -> Iterator[Run]:
    """The runs at instants ``t`` with ``start <= t < end`` (instants are whole microseconds)."""
    after = start - _TINY
    while True:
        try:
            run = next_extended_run(job, after, salt)
        except ValueError:
            return
        if run.at >= end:
            return
        yield run
        after = run.at


def describe_schedule(job: Job, salt: str = "") -> str:
    """A job's schedule in words: the slot words of SPEC.md 6.2 for a portable job, and
    ``every day at 22:15:30 Europe/Stockholm``, ``cron "0 9 * * mon-fri" (UTC), at least
    once per week``, ``every 20 s (phase 7.31 s)`` for extensions."""
    if not placed_by_extension(job):
        return describe_slot(job.every, job.offset(salt))
    found = job.trigger()
    if found.kind == "cron":
        assert found.cron is not None  # noqa: S101 - the kind says so
        return f'cron "{found.cron.text}" ({found.zone_name}), at least once per {job.every}'
    if found.kind == "interval":
        phase = phase_ms(job.id, found.interval_ms, salt) / 1_000
        return f"every {_seconds(found.interval_ms / 1_000)} s (phase {_seconds(phase)} s)"
    when = found.at if found.at is not None else slot_at_time(job.every, job.offset(salt))
    words = f"every {job.every} {describe_wall(when)}"
    if job.every in (Cadence.MINUTE, Cadence.HOUR):
        return words if job.timezone is None else f"{words} ({found.zone_name})"
    return f"{words} {found.zone_name}"


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")
