"""Local periods: a cadence's periods on the wall clock of a time zone, and DST transitions.

A local period runs from one wall boundary (local midnight for a day, Monday 00:00 for a
week, the 1st for a month, a whole hour or minute) to the next.  A boundary is placed on
the time line at the first instant whose wall time is at or after it, so that a wall
time inside a spring-forward gap starts its period when the gap ends, and a boundary
that occurs twice counts at its first occurrence.  Periods therefore tile the time line;
a period that lies entirely inside a gap is empty and is never promised a run.

Wall times are naive datetimes here (they are wall readings, not instants); instants
are aware datetimes in UTC.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import NamedTuple

from scheduled_spec.cadence import Cadence, period_key
from scheduled_spec.schedule import Period

UTC = timezone.utc
_ZERO = timedelta(0)
_EPOCH = datetime(1970, 1, 1)


class Transition(NamedTuple):
    """A change of UTC offset at instant ``at``; ``before < after`` is a gap."""

    at: datetime
    before: timedelta
    after: timedelta


def offsets(wall: datetime, tz: tzinfo) -> tuple[timedelta, timedelta]:
    """UTC offsets of a wall time at fold 0 and fold 1 (equal unless in a gap or fold)."""
    local = wall.replace(tzinfo=tz, fold=0)
    return local.utcoffset() or _ZERO, local.replace(fold=1).utcoffset() or _ZERO


def run_instant(wall: datetime, tz: tzinfo) -> datetime:
    """When a run due at ``wall`` happens: first occurrence, or shifted forward by a gap."""
    off0, _ = offsets(wall, tz)
    return (wall - off0).replace(tzinfo=UTC)


def offset_at(instant: datetime, tz: tzinfo) -> timedelta:
    """The UTC offset of ``tz`` at an aware instant."""
    return instant.astimezone(tz).utcoffset() or _ZERO


def first_instant(wall: datetime, tz: tzinfo) -> datetime:
    """The first instant whose wall time is at or after ``wall`` (UTC)."""
    off0, off1 = offsets(wall, tz)
    if off0 >= off1:
        return (wall - off0).replace(tzinfo=UTC)
    # In a gap: the answer is the transition, somewhere in (wall - off1, wall - off0].
    lo, hi = (wall - off1).replace(tzinfo=UTC), (wall - off0).replace(tzinfo=UTC)
    return _bisect(lo, hi, off0, tz)


def _bisect(lo: datetime, hi: datetime, before: timedelta, tz: tzinfo) -> datetime:
    """The first instant in (lo, hi] whose offset is no longer ``before``.

    Offsets change on whole seconds (the tz database has no finer unit), so the search
    runs on whole seconds.
    """
    low = math.floor(lo.timestamp())
    high = math.ceil(hi.timestamp())
    while high - low > 1:
        mid = (low + high) // 2
        if offset_at(datetime.fromtimestamp(mid, UTC), tz) == before:
            low = mid
        else:
            high = mid
    return datetime.fromtimestamp(high, UTC)


def wall_bounds(every: Cadence, wall: datetime) -> tuple[datetime, datetime]:
    """The wall boundaries ``[b, b_next)`` of the period of ``every`` that holds ``wall``."""
    if every is Cadence.MINUTE:
        start = wall.replace(second=0, microsecond=0)
        return start, start + timedelta(minutes=1)
    if every is Cadence.HOUR:
        start = wall.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)
    day = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    if every is Cadence.DAY:
        return day, day + timedelta(days=1)
    if every is Cadence.WEEK:
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    first = day.replace(day=1)
    nxt = (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )
    return first, nxt


def wall_key(every: Cadence, start: datetime) -> str:
    """The period key (``2026-11-28``, ``2026-W48``, ...) of a period starting at wall ``start``."""
    return period_key(every, int((start - _EPOCH).total_seconds()))


def local_period(every: Cadence, start_wall: datetime, end_wall: datetime, tz: tzinfo) -> Period:
    """The period with wall bounds ``[start_wall, end_wall)`` placed on the time line (UTC)."""
    return Period(
        every,
        wall_key(every, start_wall),
        first_instant(start_wall, tz),
        first_instant(end_wall, tz),
    )


def period_containing(every: Cadence, instant: datetime, tz: tzinfo) -> Period:
    """The local period of ``every`` that contains the aware ``instant``."""
    local = instant.astimezone(tz)
    start, end = wall_bounds(every, local.replace(tzinfo=None, fold=0))
    return local_period(every, start, end, tz)


def is_fixed(tz: tzinfo) -> bool:
    """Whether ``tz`` never changes its offset (UTC or a `datetime.timezone`)."""
    return isinstance(tz, timezone)


def transitions(tz: tzinfo, start: datetime, years: int) -> tuple[Transition, ...]:
    """The offset changes of ``tz`` from ``start`` over the next ``years`` years.

    Found by sampling the offset once a week and bisecting each change to the second;
    two changes less than a week apart that cancel out are not seen (the tz database
    has none after 2000).  Results are cached per zone and start year.
    """
    if is_fixed(tz):
        return ()
    return _transitions(tz, start.astimezone(UTC).year, years)


@lru_cache(maxsize=64)
def _transitions(tz: tzinfo, first_year: int, years: int) -> tuple[Transition, ...]:
    found: list[Transition] = []
    day = timedelta(days=7)
    t = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(first_year + years, 1, 1, tzinfo=UTC)
    previous = offset_at(t, tz)
    while t < end:
        nxt = t + day
        current = offset_at(nxt, tz)
        if current != previous:
            found.append(Transition(_bisect(t, nxt, previous, tz), previous, current))
            previous = current
        t = nxt
    return tuple(found)
