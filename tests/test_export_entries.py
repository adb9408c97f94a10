"""Calendar entries say exactly the schedule: intervals expanded tick by tick, and random
cron expressions read back by croniter and `systemd-analyze calendar`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduled_spec.cron import parse_cron
from scheduled_spec.export.calendar_text import on_calendar_lines
from scheduled_spec.export.cron_text import cron_lines
from scheduled_spec.export.entries import (
    Entry,
    Unexpressible,
    WallSchedule,
    cron_entry,
    interval_entries,
    values,
)
from tests.test_export_extensions import calendar_fires, cron_fires

WEEK_MS = 604_800_000
NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
# Intervals that divide a week, with few and with many ticks per cycle.
INTERVALS = [100, 1_500, 20_000, 45_000, 90_000, 420_000, 2_700_000, 5_400_000, 86_400_000]


def expand_week(entries: tuple[Entry, ...]) -> set[int]:
    """The milliseconds of the epoch's first week (from Thursday 1970-01-01) the entries
    match; none of them restrict days of the month or months."""
    found: set[int] = set()
    for day in range(7):
        weekday = (day + 4) % 7
        for entry in entries:
            if not entry.weekdays >> weekday & 1:
                continue
            for hour in values(entry.hours, 0, 23):
                for minute in values(entry.minutes, 0, 59):
                    base = ((day * 24 + hour) * 60 + minute) * 60_000
                    found.update(base + ms for ms in entry.seconds_ms)
    return found


@settings(max_examples=60)
@given(st.sampled_from(INTERVALS), st.integers(min_value=0, max_value=10**9))
def test_interval_entries_hold_exactly_the_ticks(interval_ms: int, seed: int) -> None:
    """SPEC.md 9.6.2: "at phase + k * N Unix seconds for whole k"."""
    phase = seed % interval_ms
    try:
        entries = interval_entries(interval_ms, phase)
    except Unexpressible:
        return  # too many entries: refused, never approximated
    assert expand_week(entries) == set(range(phase, WEEK_MS, interval_ms))


MINUTES = ["0", "*/15", "5,35", "10-20/5", "*", "59"]
HOURS = ["*", "9", "8-17", "*/6", "0,23"]
DAYS = ["*", "1", "13", "*/2", "1-7", "10,20,31", "?", "L", "15,L"]
MONTHS = ["*", "jan,mar", "2-11/3", "feb"]
WEEKDAYS = ["*", "mon-fri", "0", "sat-sun", "fri", "?", "Lfri", "mon,Ltue", "*/2"]
EXPRESSIONS = st.builds(
    lambda *fields: " ".join(fields),
    st.sampled_from(MINUTES),
    st.sampled_from(HOURS),
    st.sampled_from(DAYS),
    st.sampled_from(MONTHS),
    st.sampled_from(WEEKDAYS),
)


def library_runs(text: str, count: int = 6) -> list[datetime]:
    cron, after, found = parse_cron(text), NOW - timedelta(seconds=1), []
    for _ in range(count):
        at = cron.next_after(after)
        assert at is not None
        found.append(at.astimezone(timezone.utc))
        after = at
    return found


@settings(max_examples=80)
@given(EXPRESSIONS)
def test_cron_lines_fire_when_the_expression_does(text: str) -> None:
    schedule = WallSchedule("UTC", (cron_entry(parse_cron(text)),), f'cron = "{text}"')
    try:
        lines = cron_lines(schedule)
    except Unexpressible as exc:
        refused = str(exc)
    else:
        refused = ""
    if refused:  # only what five fields cannot say
        assert "L" in text or "both restricted" in refused, (text, refused)
        return
    assert cron_fires(lines, "UTC", 6) == library_runs(text), (text, lines)


@settings(max_examples=40)
@given(EXPRESSIONS)
def test_on_calendar_fires_when_the_expression_does(text: str) -> None:
    schedule = WallSchedule("UTC", (cron_entry(parse_cron(text)),), f'cron = "{text}"')
    try:
        lines = on_calendar_lines(schedule)
    except Unexpressible as exc:
        refused = str(exc)
    else:
        refused = ""
    if refused:  # only a list of days that must also be among a month's last seven
        assert "L" in text, (text, refused)
        assert "must both match" in refused, (text, refused)
        return
    assert calendar_fires(lines, 6, NOW - timedelta(seconds=1)) == library_runs(text), (
        text,
        lines,
    )
