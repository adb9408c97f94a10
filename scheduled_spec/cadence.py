"""Cadences and their periods (SPEC.md section 4).

A period is a half-open UTC interval ``[start, start + length)``.  Everything here works
on whole Unix seconds, so it is exact and fast; `scheduled_spec.schedule` converts to
and from aware datetimes.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import Enum

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_FIRST_MONDAY = 4 * 86_400  # 1970-01-05, the first Monday after the Unix epoch


class Cadence(str, Enum):
    """One of the five cadences of the specification, with its period length."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    def __str__(self) -> str:
        return self.value

    # Hash as the plain string: as fast as a str (Enum's own hash is Python code), and a
    # Cadence finds the same dict entry as its value.
    __hash__ = str.__hash__

    @property
    def seconds(self) -> int:
        """The slot range of a period: its length, or 28 days for a month."""
        return PERIOD_SECONDS[self]


PERIOD_SECONDS: dict[Cadence, int] = {
    Cadence.MINUTE: 60,
    Cadence.HOUR: 3_600,
    Cadence.DAY: 86_400,
    Cadence.WEEK: 604_800,
    Cadence.MONTH: 2_419_200,
}
_FIXED = {Cadence.MINUTE: 60, Cadence.HOUR: 3_600, Cadence.DAY: 86_400}


def period_start(every: Cadence, t: int) -> int:
    """Start (Unix seconds) of the period of `every` that contains instant `t`."""
    length = _FIXED.get(every)
    if length is not None:
        return t - t % length
    if every is Cadence.WEEK:
        return t - (t - _FIRST_MONDAY) % 604_800
    day = date.fromordinal(t // 86_400 + _EPOCH_ORDINAL)
    return (day.toordinal() - day.day + 1 - _EPOCH_ORDINAL) * 86_400


def next_period_start(every: Cadence, start: int) -> int:
    """Start of the period that follows the one starting at `start`."""
    length = _FIXED.get(every)
    if length is not None:
        return start + length
    if every is Cadence.WEEK:
        return start + 604_800
    day = date.fromordinal(start // 86_400 + _EPOCH_ORDINAL)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return (date(year, month, 1).toordinal() - _EPOCH_ORDINAL) * 86_400


def period_index(every: Cadence, start: int) -> int:
    """A whole number that increases by one from each period to the next.

    Used to count periods between two instants without stepping through them.
    """
    if every is Cadence.MONTH:
        day = date.fromordinal(start // 86_400 + _EPOCH_ORDINAL)
        return day.year * 12 + day.month - 1
    if every is Cadence.WEEK:
        return (start - _FIRST_MONDAY) // 604_800
    return start // _FIXED[every]


def period_key_of(every: Cadence, moment: datetime) -> str:
    """The key of the period of `every` that contains `moment` (a UTC datetime)."""
    if every is Cadence.WEEK:
        iso = moment.isocalendar()
        return f"{iso[0]:04d}-W{iso[1]:02d}"
    day = moment.date().isoformat()  # much cheaper than an aware datetime's isoformat
    if every is Cadence.DAY:
        return day
    if every is Cadence.MONTH:
        return day[:7]
    if every is Cadence.HOUR:
        return f"{day}T{moment.hour:02d}"
    return f"{day}T{moment.hour:02d}:{moment.minute:02d}"


def period_key(every: Cadence, start: int) -> str:
    """The name of the period starting at `start`: ``2026-11-24T10:31``, ``2026-W48``, ..."""
    day = date.fromordinal(start // 86_400 + _EPOCH_ORDINAL)
    if every is Cadence.MONTH:
        return f"{day.year:04d}-{day.month:02d}"
    if every is Cadence.WEEK:
        iso = day.isocalendar()
        return f"{iso[0]:04d}-W{iso[1]:02d}"
    text = f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    if every is Cadence.DAY:
        return text
    hour, rest = divmod(start % 86_400, 3_600)
    if every is Cadence.HOUR:
        return f"{text}T{hour:02d}"
    return f"{text}T{hour:02d}:{rest // 60:02d}"


_KEY_PATTERNS = {
    Cadence.MINUTE: re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})"),
    Cadence.HOUR: re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2})"),
    Cadence.DAY: re.compile(r"(\d{4})-(\d{2})-(\d{2})"),
    Cadence.WEEK: re.compile(r"(\d{4})-W(\d{2})"),
    Cadence.MONTH: re.compile(r"(\d{4})-(\d{2})"),
}


def parse_period_key(every: Cadence, key: str) -> int:
    """Inverse of `period_key`: the start (Unix seconds) of the period a key names.

    Raises ValueError when `key` is not a key of `every`.
    """
    match = _KEY_PATTERNS[every].fullmatch(key)
    try:
        if match is None:
            raise ValueError(key)  # noqa: TRY301 - one message for every malformed key, below
        fields = [int(f) for f in match.groups()]
        if every is Cadence.WEEK:
            day = date.fromisocalendar(fields[0], fields[1], 1)
        else:
            day = date(fields[0], fields[1], fields[2] if len(fields) > 2 else 1)
        hour, minute = ([*fields[3:], 0, 0])[:2]
        if hour > 23 or minute > 59:
            raise ValueError(key)  # noqa: TRY301
    except ValueError:
        raise ValueError(f"{key!r} is not a period key of every = {every.value!r}") from None
    return (day.toordinal() - _EPOCH_ORDINAL) * 86_400 + hour * 3_600 + minute * 60
