"""Entries as systemd ``OnCalendar=`` expressions (systemd.time(7), "Calendar Events").

systemd has what five-field cron lacks: seconds with fractions, a year, the last day of a
month (``*-*~01``), the last seven days (``~07/1``, for a last weekday) and a zone suffix.
It has no "either day field" rule: the weekday and the date of one expression must both
match, and a timer with several ``OnCalendar=`` lines fires at the union of them. So a
schedule whose day fields match either way becomes one expression per day condition.
"""

from __future__ import annotations

from scheduled_spec.cron_parse import YEAR_MAX, YEAR_MIN
from scheduled_spec.export.entries import (
    ALL_DAYS,
    ALL_WEEKDAYS,
    MAX_ENTRIES,
    Entry,
    Unexpressible,
    WallSchedule,
    values,
)

_WEEKDAY_NAMES = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_MONDAY_FIRST = (1, 2, 3, 4, 5, 6, 0)
_EVERY_DAY = ("", "-*")


def on_calendar_lines(schedule: WallSchedule) -> list[str]:
    """The ``OnCalendar=`` values whose union is the schedule. Raises Unexpressible."""
    lines: list[str] = []
    for entry in schedule.entries:
        try:
            parts = _day_parts(entry)
        except Unexpressible as exc:
            raise Unexpressible(f"{schedule.source}: {exc}") from None
        for weekday, day in parts:
            line = _expression(entry, weekday, day, schedule.zone)
            if line not in lines:
                lines.append(line)
    if len(lines) > MAX_ENTRIES:
        raise Unexpressible(
            f"{schedule.source} would need {len(lines)} OnCalendar= lines"
            f" (at most {MAX_ENTRIES} are written)"
        )
    return lines


def _day_parts(entry: Entry) -> list[tuple[str, str]]:
    """(weekday list or "", date suffix) pairs whose union is the entry's days."""
    dom_all, dow_all = entry.days == ALL_DAYS, entry.weekdays == ALL_WEEKDAYS
    doms = []
    if entry.days:
        doms.append(("", "-" + _field(entry.days, 1, 31)))
    if entry.last_day:
        doms.append(("", "~01"))
    dows = []
    if entry.weekdays:
        dows.append(("" if dow_all else _weekdays(entry.weekdays), "-*"))
    if entry.last_weekdays:
        dows.append((_weekdays(entry.last_weekdays), "~07/1"))  # among the last seven days
    if entry.day_or:
        return [_EVERY_DAY] if dom_all or dow_all else doms + dows
    if dom_all:
        return [_EVERY_DAY] if dow_all else dows
    if dow_all:
        return doms
    if entry.last_weekdays:
        raise Unexpressible(
            "day-of-month and day-of-week must both match and the day-of-week has"
            ' "L<weekday>": a systemd date cannot be both a list of days and among the last'
            " seven"
        )
    weekdays = _weekdays(entry.weekdays)
    return [(weekdays, day) for _, day in doms]


def _expression(entry: Entry, weekday: str, day: str, zone: str) -> str:
    year = "*" if entry.years is None else _years(entry.years)
    date = f"{year}-{_field(entry.months, 1, 12)}{day}"
    clock = f"{_field(entry.hours, 0, 23)}:{_field(entry.minutes, 0, 59)}:{_seconds(entry)}"
    return f"{weekday + ' ' if weekday else ''}{date} {clock} {zone}"


def _field(mask: int, lo: int, hi: int) -> str:
    """``*``, ``05/10`` (from 5 every 10 to the end), or values and ``a..b`` ranges."""
    found = values(mask, lo, hi)
    if len(found) == hi - lo + 1:
        return "*"
    if len(found) >= 3:
        step = found[1] - found[0]
        if step > 1 and found == list(range(found[0], hi + 1, step)):
            return f"{found[0]:02d}/{step}"
    return ",".join(_runs([f"{v:02d}" for v in found], found))


def _runs(texts: list[str], numbers: list[int]) -> list[str]:
    """Consecutive numbers written as ``first..last``."""
    items, start = [], 0
    while start < len(numbers):
        end = start
        while end + 1 < len(numbers) and numbers[end + 1] == numbers[end] + 1:
            end += 1
        items.append(texts[start] if end == start else f"{texts[start]}..{texts[end]}")
        start = end + 1
    return items


def _years(mask: int) -> str:
    found = [YEAR_MIN + i for i in range(YEAR_MAX - YEAR_MIN + 1) if mask >> i & 1]
    return ",".join(_runs([str(y) for y in found], found))


def _weekdays(mask: int) -> str:
    order = [i for i, day in enumerate(_MONDAY_FIRST) if mask >> day & 1]
    return ",".join(_runs([_WEEKDAY_NAMES[_MONDAY_FIRST[i]] for i in order], order))


def _seconds(entry: Entry) -> str:
    found = entry.seconds_ms
    if len(found) >= 3:
        step = found[1] - found[0]
        if list(found) == list(range(found[0], 60_000, step)):
            return f"{_second(found[0])}/{step / 1_000:g}"
    return ",".join(_second(ms) for ms in found)


def _second(ms: int) -> str:
    whole, fraction = divmod(ms, 1_000)
    return f"{whole:02d}" if not fraction else f"{whole:02d}.{fraction:03d}"


def needs_milliseconds(schedule: WallSchedule) -> bool:
    """Whether the timer needs an accuracy finer than a second."""
    return any(ms % 1_000 for entry in schedule.entries for ms in entry.seconds_ms)
