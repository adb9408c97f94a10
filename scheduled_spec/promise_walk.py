"""The calendar half of the promise proof: wall-clock periods that a cron expression misses.

Everything here reasons on wall dates of the proleptic Gregorian calendar, which repeats
every 400 years (146 097 days, exactly 20 871 weeks), so walking 400 years and one month
of *months* decides every period.  A month is summarised by its day mask, which depends
only on (month, length, weekday of the 1st); the walk caches those summaries, so it
never looks at a day, let alone a minute, one at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from scheduled_spec.cadence import Cadence
from scheduled_spec.cron import CronExpression, days_in_month
from scheduled_spec.local_periods import wall_bounds

HORIZON_MONTHS = 400 * 12 + 1
_FULL_HOURS = (1 << 24) - 1
_FULL_MINUTES = (1 << 60) - 1
_WEEKLY = sum(1 << (7 * k) for k in range(6))
_MAX_YEAR = 9999

Bounds = tuple[datetime, datetime]


def _low_bit(mask: int) -> int:
    return (mask & -mask).bit_length() - 1


def _months(
    expr: CronExpression, year: int, month: int
) -> Iterator[tuple[int, int, int, int, int]]:
    """(year, month, ordinal of the 1st, days, matching-day mask) for the horizon."""
    cache: dict[tuple[int, int, int], int] = {}
    first = date(year, month, 1).toordinal()
    for _ in range(HORIZON_MONTHS):
        mdays = days_in_month(year, month)
        if not (expr.months >> month & 1 and expr.year_allowed(year)):
            mask = 0
        else:
            key = (month, mdays, first % 7)
            cached = cache.get(key)
            if cached is None:
                cached = cache[key] = expr.day_mask(year, month)
            mask = cached
        yield year, month, first, mdays, mask
        first += mdays
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if year > _MAX_YEAR:
            return


def _day(ordinal: int) -> datetime:
    d = date.fromordinal(ordinal)
    return datetime(d.year, d.month, d.day)


def first_gap_day(expr: CronExpression, day: date) -> datetime | None:
    """The first wall date on or after ``day`` on which the expression never fires."""
    skip = day.day
    for year, month, _, mdays, mask in _months(expr, day.year, day.month):
        missing = ((2 << mdays) - 2) & ~mask & ~((1 << skip) - 1)
        if missing:
            return datetime(year, month, _low_bit(missing))
        skip = 1
    return None


def _first_gap_month(expr: CronExpression, day: date) -> Bounds | None:
    for year, month, _, _, mask in _months(expr, day.year, day.month):
        if not mask:
            return wall_bounds(Cadence.MONTH, datetime(year, month, 1))
    return None


def _first_monday(ordinal: int) -> int:
    return ordinal + (1 - ordinal) % 7  # date.fromordinal(1) is a Monday


def _inner_gap_monday(mask: int, first: int) -> int:
    """Day of a Monday starting 7 non-matching days strictly between two matches, or 0."""
    low, high = _low_bit(mask), mask.bit_length() - 1
    quiet = ~mask & ((1 << high) - 1) & ~((2 << low) - 1)
    run = quiet
    for k in range(1, 7):
        run &= quiet >> k
    mondays = _WEEKLY << (1 + (1 - first) % 7)
    hits = run & mondays
    return _low_bit(hits) if hits else 0


def _first_gap_week(expr: CronExpression, day: date) -> Bounds | None:
    monday = day - timedelta(days=day.weekday())
    quiet_from = monday.toordinal()  # first day of the current run without a match
    cache: dict[tuple[int, int], int] = {}
    skip = monday.day
    for _, _, first, mdays, whole in _months(expr, monday.year, monday.month):
        mask = whole & ~((1 << skip) - 1)
        week = _first_monday(quiet_from)
        if not mask:
            if first + mdays - 1 >= week + 6:
                return _week(week)
            skip = 1
            continue
        if first + _low_bit(mask) - 2 >= week + 6:
            return _week(week)
        if skip > 1:
            inner = _inner_gap_monday(mask, first)
        else:
            key = (mask, first % 7)
            inner = cache.get(key, -1)
            if inner < 0:
                inner = cache[key] = _inner_gap_monday(mask, first)
        if inner:
            return _week(first + inner - 1)
        quiet_from = first + mask.bit_length() - 1
        skip = 1
    return None


def _week(monday_ordinal: int) -> Bounds:
    start = _day(monday_ordinal)
    return start, start + timedelta(days=7)


def _matches_day(expr: CronExpression, day: date) -> bool:
    return bool(
        expr.year_allowed(day.year)
        and expr.months >> day.month & 1
        and expr.day_mask(day.year, day.month) >> day.day & 1
    )


def _missing_slot(
    expr: CronExpression, every: Cadence, hour: int, minute: int
) -> tuple[int, int] | None:
    """The first (hour, minute) at or after the given one, in a matching day, without a run."""
    if every is Cadence.HOUR:
        missing = _FULL_HOURS & ~expr.hours & ~((1 << hour) - 1)
        return (_low_bit(missing), 0) if missing else None
    for h in range(hour, 24):
        start = minute if h == hour else 0
        if not expr.hours >> h & 1:
            return h, start
        missing = _FULL_MINUTES & ~expr.minutes & ~((1 << start) - 1)
        if missing:
            return h, _low_bit(missing)
    return None


def _first_gap_subday(expr: CronExpression, every: Cadence, wall: datetime) -> Bounds | None:
    day = wall.date()
    if not _matches_day(expr, day):
        return wall_bounds(every, wall)
    full = expr.hours == _FULL_HOURS and (every is Cadence.HOUR or expr.minutes == _FULL_MINUTES)
    if full:
        gap = first_gap_day(expr, day + timedelta(days=1))
        return None if gap is None else wall_bounds(every, gap)
    slot = _missing_slot(expr, every, wall.hour, wall.minute)
    if slot is None:
        day += timedelta(days=1)
        midnight = datetime(day.year, day.month, day.day)
        if not _matches_day(expr, day):
            return wall_bounds(every, midnight)
        slot = _missing_slot(expr, every, 0, 0)
        if slot is None:  # pragma: no cover - not full, so a matching day has a missing slot
            return None
    at = datetime(day.year, day.month, day.day, *slot)
    return wall_bounds(every, at)


def first_wall_gap(expr: CronExpression, every: Cadence, wall: datetime) -> Bounds | None:
    """Wall bounds of the first period of ``every``, from the one holding ``wall`` on,
    that contains no matching wall minute; None when there is none in the whole cycle.
    """
    if every is Cadence.DAY:
        gap = first_gap_day(expr, wall.date())
        return None if gap is None else wall_bounds(every, gap)
    if every is Cadence.WEEK:
        return _first_gap_week(expr, wall.date())
    if every is Cadence.MONTH:
        return _first_gap_month(expr, wall.date())
    return _first_gap_subday(expr, every, wall)
