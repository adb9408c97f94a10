"""A job's runs as calendar entries: what every export target is written from.

An `Entry` is a set of wall-clock instants written field by field, like one cron line or
one ``OnCalendar=`` expression: the instants whose second, minute, hour, day, month and
year are in the entry's sets. A `WallSchedule` is the union of a few entries read on one
zone's wall clock. Every kind of trigger becomes one: the hashed slot and `at` (one entry),
`cron` (one entry, the compiled masks as they are) and `interval` (the ticks of one
calendar cycle, grouped into entries; see `interval_entries`).

Reasons a target cannot express a schedule are raised as `Unexpressible`, in TOML words and
without the job's ID (the target module adds it).
"""

from __future__ import annotations

from typing import NamedTuple

from scheduled_spec.at import AtTime
from scheduled_spec.cadence import Cadence
from scheduled_spec.cron import CronExpression
from scheduled_spec.cron_parse import YEAR_MAX, YEAR_MIN
from scheduled_spec.extensions import phase_ms, slot_at_time
from scheduled_spec.models import Job

ALL_MINUTES = (1 << 60) - 1
ALL_HOURS = (1 << 24) - 1
ALL_DAYS = (1 << 32) - 2  # bits 1-31
ALL_MONTHS = (1 << 13) - 2  # bits 1-12
ALL_WEEKDAYS = 0x7F  # bits 0-6, Sunday = 0 as in cron
ALL_YEARS = (1 << (YEAR_MAX - YEAR_MIN + 1)) - 1
#: More entries than this and a schedule is refused: a unit or crontab nobody can read.
MAX_ENTRIES = 60
_MINUTE_MS, _HOUR_MS, _DAY_MS, _WEEK_MS = 60_000, 3_600_000, 86_400_000, 604_800_000
_EPOCH_WEEKDAY = 4  # 1970-01-01 was a Thursday (cron numbering: Sunday = 0)


class Unexpressible(Exception):  # noqa: N818 - a reason, caught by the target modules
    """A target cannot express a job's schedule; the message says why, in TOML words."""


class Entry(NamedTuple):
    """Instants matching every field: ``seconds_ms`` are milliseconds inside the minute;
    the masks are those of `CronExpression` (bit ``v`` for value ``v``; weekdays Sunday =
    0; years bit ``year - 1970``, None for every year). ``day_or``: a day matches when
    either day field matches it (both were restricted, SPEC.md 9.4.6), else when both do."""

    seconds_ms: tuple[int, ...]
    minutes: int = ALL_MINUTES
    hours: int = ALL_HOURS
    days: int = ALL_DAYS
    months: int = ALL_MONTHS
    weekdays: int = ALL_WEEKDAYS
    last_day: bool = False
    last_weekdays: int = 0
    day_or: bool = False
    years: int | None = None


class WallSchedule(NamedTuple):
    """A job's runs: the union of ``entries`` on the wall clock of ``zone`` (an IANA name).

    ``source`` names what places the runs in TOML words (``cron = "0 9 * * *"``);
    ``interval_ms`` is the interval of an `interval` job (0 otherwise); ``local`` is true
    when the DST rule of SPEC.md 9.3.3-9.3.4 applies (a `timezone` that is not ignored).
    """

    zone: str
    entries: tuple[Entry, ...]
    source: str
    interval_ms: int = 0
    local: bool = False


def wall_schedule(job: Job, salt: str = "") -> WallSchedule:
    """The runs of `job` as calendar entries. Raises Unexpressible (an interval no
    calendar cycle holds a whole number of times)."""
    found = job.trigger()
    local = job.timezone is not None
    if found.kind == "cron":
        assert found.cron is not None  # noqa: S101 - the kind says so
        source = f"cron = {_quoted(found.cron.text)}"
        return WallSchedule(found.zone_name, (cron_entry(found.cron),), source, local=local)
    if found.kind == "interval":
        seconds = f"{found.interval_ms / 1_000:.3f}".rstrip("0").rstrip(".")
        source = f"interval = {seconds}"
        phase = phase_ms(job.id, found.interval_ms, salt)
        try:
            entries = interval_entries(found.interval_ms, phase)
        except Unexpressible as exc:
            raise Unexpressible(f"{source}: {exc}") from None
        # Ticks are anchored to the Unix epoch; `timezone` only makes the promise local.
        return WallSchedule("UTC", entries, source, found.interval_ms)
    if found.at is not None:
        source = f"at = {_quoted(job.at or '')}"
        return WallSchedule(found.zone_name, (wall_time_entry(found.at),), source, local=local)
    when = slot_at_time(job.every, job.offset(salt))
    return WallSchedule(found.zone_name, (wall_time_entry(when),), "the slot", local=local)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wall_time_entry(when: AtTime) -> Entry:
    """One wall time per period (an `at`, or the slot as a wall time)."""
    seconds = (when.second * 1_000,)
    if when.every is Cadence.MINUTE:
        return Entry(seconds)
    if when.every is Cadence.HOUR:
        return Entry(seconds, 1 << when.minute)
    if when.every is Cadence.DAY:
        return Entry(seconds, 1 << when.minute, 1 << when.hour)
    if when.every is Cadence.WEEK:
        weekday = (when.day + 1) % 7  # AtTime: Monday = 0
        return Entry(seconds, 1 << when.minute, 1 << when.hour, weekdays=1 << weekday)
    return Entry(seconds, 1 << when.minute, 1 << when.hour, days=1 << when.day)


def cron_entry(cron: CronExpression) -> Entry:
    """A compiled cron expression; runs are whole minutes (second 0)."""
    years = None if cron.years in (None, ALL_YEARS) else cron.years
    return Entry(
        (0,),
        cron.minutes,
        cron.hours,
        cron.days,
        cron.months,
        cron.weekdays,
        cron.last_day,
        cron.last_weekdays,
        cron.day_or,
        years,
    )


def interval_entries(interval_ms: int, phase: int) -> tuple[Entry, ...]:
    """The ticks ``phase + k * interval`` (milliseconds since the epoch) as entries.

    The ticks repeat with the smallest calendar cycle - a UTC minute, hour, day or week
    (weeks from the epoch's Thursday) - that holds a whole number of intervals; inside one
    cycle each tick is a (weekday, hour, minute, millisecond) and the ticks are covered
    exactly by products of sets, one entry each. An interval no cycle holds (7 minutes,
    2 days) drifts against the calendar and raises Unexpressible, as do more than
    `MAX_ENTRIES` entries.
    """
    cycle = next((c for c in (_MINUTE_MS, _HOUR_MS, _DAY_MS, _WEEK_MS) if c % interval_ms == 0), 0)
    if not cycle:
        raise Unexpressible(
            "no minute, hour, day or week holds a whole number of intervals, so the ticks"
            " (anchored to the Unix epoch) fall at other times in each one"
        )
    width = {_MINUTE_MS: 1, _HOUR_MS: 2, _DAY_MS: 3, _WEEK_MS: 4}[cycle]
    points: list[tuple[int, ...]] = []
    for position in range(phase, cycle, interval_ms):
        days, rest = divmod(position, _DAY_MS)
        hour, rest = divmod(rest, _HOUR_MS)
        minute, ms = divmod(rest, _MINUTE_MS)
        points.append(((days + _EPOCH_WEEKDAY) % 7, hour, minute, ms)[4 - width :])
    rows = _products(points)
    if len(rows) > MAX_ENTRIES:
        raise Unexpressible(
            f"its ticks repeat only every {_cycle_words(cycle)} and would need {len(rows)}"
            f" calendar entries (at most {MAX_ENTRIES} are written)"
        )
    entries = []
    for row in sorted(rows, key=lambda r: [min(part) for part in r]):
        full: tuple[frozenset[int] | None, ...] = (None,) * (4 - width) + row
        weekdays, hours, minutes, seconds = full
        assert seconds is not None  # noqa: S101 - every cycle has the milliseconds axis
        entries.append(
            Entry(
                tuple(sorted(seconds)),
                _mask(minutes, ALL_MINUTES),
                _mask(hours, ALL_HOURS),
                weekdays=_mask(weekdays, ALL_WEEKDAYS),
            )
        )
    return tuple(entries)


def _products(points: list[tuple[int, ...]]) -> list[tuple[frozenset[int], ...]]:
    """Exact cover of `points` by products of sets: per axis, coarsest first, merge the rows
    that agree on every other axis (each merge keeps the cover exact)."""
    rows: list[tuple[frozenset[int], ...]] = [tuple(frozenset((v,)) for v in p) for p in points]
    for axis in range(len(points[0])):
        merged: dict[tuple[frozenset[int], ...], set[int]] = {}
        for row in rows:
            merged.setdefault(row[:axis] + row[axis + 1 :], set()).update(row[axis])
        rows = [(*key[:axis], frozenset(values), *key[axis:]) for key, values in merged.items()]
    return rows


def _mask(values: frozenset[int] | None, full: int) -> int:
    if values is None:
        return full
    mask = 0
    for value in values:
        mask |= 1 << value
    return mask


def _cycle_words(cycle: int) -> str:
    return {_MINUTE_MS: "minute", _HOUR_MS: "hour", _DAY_MS: "day", _WEEK_MS: "week"}[cycle]


def values(mask: int, lo: int, hi: int) -> list[int]:
    """The values ``lo``..``hi`` whose bits are set in `mask`."""
    return [v for v in range(lo, hi + 1) if mask >> v & 1]
