"""Entries as standard five-field cron lines (crontab, Kubernetes, GitHub Actions).

Only the syntax every one of those schedulers reads is written: numbers, ``*``, lists,
``a-b`` ranges and steps, never names, ``@`` aliases, ``?``, ``L`` or a year. The day
fields need care: cron daemons agree that a day matches either field when both are
restricted and neither is ``*``, and that a ``*`` leaves the other field in charge, but
they disagree on a restricted field written ``*/2`` (Vixie cron and cronie treat it as
``*``, busybox crond and Kubernetes' robfig/cron as restricted). So a day field is written
``*`` only when it allows every day, never as ``*/s``, and a schedule whose two day
fields must both match while both are restricted is refused.
"""

from __future__ import annotations

import itertools

from scheduled_spec.export.entries import (
    ALL_DAYS,
    ALL_WEEKDAYS,
    Entry,
    Unexpressible,
    WallSchedule,
    values,
)

MINUTE_MS = 60_000


def cron_lines(schedule: WallSchedule) -> list[str]:
    """One five-field cron expression per entry, on the wall clock of ``schedule.zone``.

    Seconds are dropped (cron starts jobs on whole minutes; `seconds_dropped` tells).
    Raises Unexpressible for what standard cron cannot say.
    """
    if schedule.interval_ms and schedule.interval_ms % MINUTE_MS:
        raise Unexpressible(
            f"{schedule.source} is not a whole number of minutes, and cron starts jobs on"
            " whole minutes only"
        )
    lines = []
    for entry in schedule.entries:
        try:
            lines.append(cron_fields(entry))
        except Unexpressible as exc:
            raise Unexpressible(f"{schedule.source}: {exc}") from None
    return lines


def seconds_dropped(schedule: WallSchedule) -> bool:
    """Whether a minute-precision target starts the job before its instants."""
    return any(ms for entry in schedule.entries for ms in entry.seconds_ms)


def cron_fields(entry: Entry) -> str:
    """``minute hour day-of-month month day-of-week``. Raises Unexpressible."""
    if entry.years is not None:
        raise Unexpressible("standard cron has no year field")
    if entry.last_day:
        raise Unexpressible('"L" (the last day of the month) is not standard cron')
    if entry.last_weekdays:
        raise Unexpressible('"L<weekday>" (the last such weekday of a month) is not standard cron')
    dom_full, dow_full = entry.days == ALL_DAYS, entry.weekdays == ALL_WEEKDAYS
    if entry.day_or and (dom_full or dow_full):
        dom, dow = "*", "*"  # either field matching every day: every day
    elif entry.day_or or dom_full or dow_full:
        dom = "*" if dom_full else field_text(entry.days, 1, 31, steps=False)
        dow = "*" if dow_full else field_text(entry.weekdays, 0, 6, steps=False)
    else:
        raise Unexpressible(
            "day-of-month and day-of-week are both restricted and must both match (one of"
            ' them starts with "*"), and cron daemons disagree on that form (Vixie cron and'
            " cronie require both, busybox crond and Kubernetes either)"
        )
    minute = field_text(entry.minutes, 0, 59)
    hour = field_text(entry.hours, 0, 23)
    month = field_text(entry.months, 1, 12)
    return f"{minute} {hour} {dom} {month} {dow}"


def field_text(mask: int, lo: int, hi: int, *, steps: bool = True) -> str:
    """A cron field for `mask`: ``*``, ``*/5``, ``3-59/5``, or a list of values and ranges."""
    found = values(mask, lo, hi)
    if len(found) == hi - lo + 1:
        return "*"
    if steps and len(found) >= 3:
        step = found[1] - found[0]
        if step > 1 and found == list(range(found[0], hi + 1, step)):
            return f"*/{step}" if found[0] == lo else f"{found[0]}-{found[-1]}/{step}"
    items, start = [], 0
    while start < len(found):
        end = start
        while end + 1 < len(found) and found[end + 1] == found[end] + 1:
            end += 1
        first, last = found[start], found[end]
        items.append(str(first) if first == last else f"{first}-{last}")
        start = end + 1
    return ",".join(items)


def shortest_gap_minutes(entry: Entry) -> int | None:
    """The fewest minutes between two runs of one entry, or None when it runs once a day
    or less often (a bound, for GitHub Actions' five-minute limit)."""
    minutes = values(entry.minutes, 0, 59)
    hours = values(entry.hours, 0, 23)
    gaps = [b - a for a, b in itertools.pairwise(minutes)]
    # The last minute of an hour and the first of the next, when both hours are allowed.
    if any((h + 1) % 24 in hours for h in hours):
        gaps.append(60 - minutes[-1] + minutes[0])
    return min(gaps) if gaps else None
