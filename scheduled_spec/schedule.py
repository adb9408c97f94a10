"""When does a job run: `next_run`, `runs_between`, `period_of` (SPEC.md section 5).

All functions are pure: time is always a parameter, and naive datetimes are refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import NamedTuple

from scheduled_spec.cadence import (
    Cadence,
    next_period_start,
    period_index,
    period_key,
    period_key_of,
    period_start,
)
from scheduled_spec.errors import NaiveDatetimeError
from scheduled_spec.models import Job
from scheduled_spec.slots import slot_offset

UTC = timezone.utc
_FIXED_LENGTH = {Cadence.MINUTE: 60, Cadence.HOUR: 3_600, Cadence.DAY: 86_400}


class Run(NamedTuple):
    """One scheduled run: which job, which period (its key), and the instant (UTC)."""

    job_id: str
    period: str
    at: datetime


_new_run = tuple.__new__


class Period(NamedTuple):
    """A period of a cadence: its key and its half-open UTC interval ``[start, end)``."""

    every: Cadence
    key: str
    start: datetime
    end: datetime


def _seconds(t: datetime, name: str) -> float:
    if t.tzinfo is None or t.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{name} must be timezone-aware, got naive {t.isoformat()};"
            " pass datetime(..., tzinfo=timezone.utc)"
        )
    return t.timestamp()


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def instant_key(t: datetime) -> str:
    """The period key of a cron or interval run: its instant, RFC 3339 UTC with ``Z``;
    milliseconds only when the instant is not a whole second."""
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond // 1_000:03d}"
    return text + "Z"


def period_of(every: Cadence | str, t: datetime) -> Period:
    """The period of `every` that contains instant `t`. Raises NaiveDatetimeError, ValueError."""
    cadence = Cadence(every)
    start = period_start(cadence, math.floor(_seconds(t, "t")))
    end = next_period_start(cadence, start)
    return Period(cadence, period_key(cadence, start), _utc(start), _utc(end))


def placed_by_extension(job: Job) -> bool:
    """True when `at`, `timezone`, `cron` or `interval` places the job's runs."""
    values = job.__dict__  # plain lookups: this runs on next_run's hot path
    return not (
        values["at"] is None
        and values["timezone"] is None
        and values["cron"] is None
        and values["interval"] is None
    )


def next_run(job: Job, after: datetime, *, salt: str = "") -> Run:
    """The job's first run strictly after `after`, for every kind of schedule.

    A portable job runs at its slot (SPEC.md 5.4); a job with `at`, `timezone`, `cron` or
    `interval` as SPEC.md part 9 says. Raises NaiveDatetimeError, and ValueError when that
    run would fall after 9999-12-31 or a cron expression's year field has no run left.
    """
    zone = after.tzinfo
    if zone is not UTC and (zone is None or after.utcoffset() is None):
        _seconds(after, "after")  # raises
    if placed_by_extension(job):
        from scheduled_spec.triggers import next_extended_run  # noqa: PLC0415 - extensions only

        return next_extended_run(job, after, salt)
    now = after.timestamp()
    every, offset = job.every, job.offset(salt)
    t = math.floor(now)
    length = _FIXED_LENGTH.get(every)
    # The run lies inside its period, so the run's own date names the period. This is the
    # provider's hot path: keys are built inline, and tuple.__new__ skips NamedTuple's
    # Python-level constructor.
    if length is not None:  # minute, hour, day: plain arithmetic, the common case
        run = t - t % length + offset
        if run <= now:
            run += length
        try:
            at = datetime.fromtimestamp(run, UTC)
        except (ValueError, OverflowError):
            raise _beyond_calendar(job, after) from None
        key = at.date().isoformat()
        if length == 3_600:
            key = f"{key}T{at.hour:02d}"
        elif length == 60:
            key = f"{key}T{at.hour:02d}:{at.minute:02d}"
        return _new_run(Run, (job.id, key, at))
    try:
        start = period_start(every, t)
        if start + offset <= now:
            start = next_period_start(every, start)
        at = datetime.fromtimestamp(start + offset, UTC)
    except (ValueError, OverflowError):
        raise _beyond_calendar(job, after) from None
    return _new_run(Run, (job.id, period_key_of(every, at), at))


def _beyond_calendar(job: Job, after: datetime) -> ValueError:
    return ValueError(
        f"job {job.id!r} has no run after {after.isoformat()} before the end of year 9999,"
        " the last day a datetime can hold"
    )


def runs_between(job: Job, start: datetime, end: datetime, *, salt: str = "") -> Iterator[Run]:
    """The job's runs at instants ``t`` with ``start <= t < end``, in order.

    Works for every kind of schedule, like `next_run`. Raises NaiveDatetimeError; yields
    nothing when ``end <= start``.
    """
    lower, upper = _seconds(start, "start"), _seconds(end, "end")
    if placed_by_extension(job):
        from scheduled_spec.triggers import extended_runs_between  # noqa: PLC0415

        yield from extended_runs_between(job, start, end, salt)
        return
    every, offset = job.every, slot_offset(job.id, job.every, salt=salt)
    period = period_start(every, math.floor(lower))
    if period + offset < lower:
        period = next_period_start(every, period)
    while period + offset < upper:
        yield Run(job.id, period_key(every, period), _utc(period + offset))
        period = next_period_start(every, period)


def count_periods(every: Cadence | str, start: datetime, end: datetime) -> int:
    """How many periods start in ``(start's period, end's period]``, computed without stepping.

    That is the number of period boundaries crossed going from `start` to `end`; zero when both
    fall in one period, negative when `end` is earlier. Raises NaiveDatetimeError.
    """
    cadence = Cadence(every)
    a = period_start(cadence, math.floor(_seconds(start, "start")))
    b = period_start(cadence, math.floor(_seconds(end, "end")))
    return period_index(cadence, b) - period_index(cadence, a)
