"""Cron expressions: `parse_cron` compiles the text, `CronExpression.next_after` finds runs.

Pure: time is always a parameter and naive datetimes are refused.  Each field is held
as a bitmask, and `next_after` jumps field by field (year, month, day, hour, minute):
it never steps through minutes that cannot match.

Local time (SPEC.md 9.3, "timezone and local periods"): an expression is matched
against the wall clock of ``tz``.  A wall time that does not exist (a spring-forward
gap) runs shifted forward by the gap; a wall time that occurs twice runs at its first
occurrence only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import NamedTuple

from scheduled_spec.cron_parse import (
    YEAR_MAX,
    YEAR_MIN,
    CronSyntaxError,
    parse_fields,
)
from scheduled_spec.errors import NaiveDatetimeError

__all__ = ["CronExpression", "CronSyntaxError", "days_in_month", "parse_cron"]

UTC = timezone.utc
_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ALL_WEEKDAYS = 0x7F
_WEEKLY = sum(1 << (7 * k) for k in range(5))  # one bit per week: repeats a 7-bit pattern
_MAX_SEARCH_YEAR = 9999


def days_in_month(year: int, month: int) -> int:
    """28 to 31, Gregorian."""
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month]


def _low_bit(mask: int) -> int:
    return (mask & -mask).bit_length() - 1


def _require_aware(t: datetime, name: str) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{name} must be timezone-aware, got naive {t.isoformat()};"
            " pass datetime(..., tzinfo=timezone.utc)"
        )


class CronExpression(NamedTuple):
    """A compiled cron expression: one bitmask per field.

    ``minutes`` (bits 0-59), ``hours`` (0-23), ``days`` (1-31), ``months`` (1-12),
    ``weekdays`` (0-6, Sunday = 0), ``years`` (bit ``year - 1970``, or ``None`` when the
    expression has no year field).  ``last_day`` is the ``L`` of day-of-month,
    ``last_weekdays`` the weekdays of ``L<weekday>``; ``day_or`` is true when both
    day fields are restricted, so that a day matching either one matches.  Equality is
    on the meaning: ``@daily == 0 0 * * *``.
    """

    minutes: int
    hours: int
    days: int
    last_day: bool
    months: int
    weekdays: int
    last_weekdays: int
    day_or: bool
    years: int | None
    text: str = ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CronExpression) and self[:9] == other[:9]

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self[:9])

    def __str__(self) -> str:
        return self.text

    def day_mask(self, year: int, month: int) -> int:
        """The days of ``year``-``month`` that match, as bits 1-31 (year field ignored)."""
        mdays = days_in_month(year, month)
        full = (2 << mdays) - 2
        dom = self.days & full
        if self.last_day:
            dom |= 1 << mdays
        if self.weekdays == _ALL_WEEKDAYS and not self.last_weekdays:
            dow = full
        else:
            # Rotate the weekday mask so that bit j means "day j + 1", then repeat it weekly.
            first = (date(year, month, 1).weekday() + 1) % 7
            w = self.weekdays
            dow = (((w >> first) | (w << (7 - first))) & 0x7F) * _WEEKLY << 1 & full
            if self.last_weekdays:
                w = self.last_weekdays
                last = (((w >> first) | (w << (7 - first))) & 0x7F) * _WEEKLY << 1
                dow |= last & full & ~((2 << (mdays - 7)) - 1)
        return dom | dow if self.day_or else dom & dow

    def year_allowed(self, year: int) -> bool:
        """Whether the year field (if any) allows ``year``."""
        if self.years is None:
            return True
        return YEAR_MIN <= year <= YEAR_MAX and bool(self.years >> (year - YEAR_MIN) & 1)

    def matches(self, local: datetime) -> bool:
        """Whether the wall-clock minute of aware ``local`` matches. Raises NaiveDatetimeError."""
        _require_aware(local, "local")
        return (
            self.year_allowed(local.year)
            and bool(self.months >> local.month & 1)
            and bool(self.day_mask(local.year, local.month) >> local.day & 1)
            and bool(self.hours >> local.hour & 1)
            and bool(self.minutes >> local.minute & 1)
        )

    def can_fire(self) -> bool:
        """Whether any calendar date ever matches (``0 0 30 2 *`` never does)."""
        if self.years is not None:
            years = [YEAR_MIN + i for i in range(YEAR_MAX - YEAR_MIN + 1) if self.years >> i & 1]
        else:
            # 2000-2027 holds every (month, first weekday) pair, leap Februaries included.
            years = list(range(2000, 2028))
        return any(self.day_mask(y, m) for y in years for m in range(1, 13) if self.months >> m & 1)

    def next_wall(  # noqa: PLR0912 - one flat loop: the hot path of next_after
        self, y: int, mo: int, d: int, h: int, mi: int
    ) -> tuple[int, int, int, int, int] | None:
        """The first matching wall minute at or after the given one, or None if none is left.

        Fields may overflow by one (``mi = 60``, ``h = 24``, ``d = 32``): they carry.
        """
        minutes, hours, months, years = self.minutes, self.hours, self.months, self.years
        checked_can_fire, first_year = False, y
        while True:
            if mi > 59:
                mi, h = 0, h + 1
            if h > 23:
                h, d = 0, d + 1
            if mo > 12:
                y, mo, d, h, mi = y + 1, 1, 1, 0, 0
            if years is not None:
                if y < YEAR_MIN:
                    y, mo, d, h, mi = YEAR_MIN, 1, 1, 0, 0
                left = years >> (y - YEAR_MIN)
                if not left:
                    return None
                skip = _low_bit(left)
                if skip:
                    y, mo, d, h, mi = y + skip, 1, 1, 0, 0
            elif y > first_year + 8 and not checked_can_fire:
                if not self.can_fire():
                    return None
                checked_can_fire = True
            if y > _MAX_SEARCH_YEAR:
                return None
            left = months >> mo
            if not left:
                y, mo, d, h, mi = y + 1, 1, 1, 0, 0
                continue
            skip = _low_bit(left)
            if skip:
                mo, d, h, mi = mo + skip, 1, 0, 0
            left = self.day_mask(y, mo) >> d
            if not left:
                mo, d, h, mi = mo + 1, 1, 0, 0
                continue
            skip = _low_bit(left)
            if skip:
                d, h, mi = d + skip, 0, 0
            left = hours >> h
            if not left:
                d, h, mi = d + 1, 0, 0
                continue
            skip = _low_bit(left)
            if skip:
                h, mi = h + skip, 0
            left = minutes >> mi
            if not left:
                h, mi = h + 1, 0
                continue
            return y, mo, d, h, mi + _low_bit(left)

    def next_after(self, after: datetime, tz: tzinfo = UTC) -> datetime | None:
        """The first run strictly after ``after``, as an aware datetime in ``tz``.

        The expression is matched against the wall clock of ``tz`` (a zoneinfo zone or a
        fixed offset) with the daylight-saving rule of the module docstring.  Returns
        None when the expression can never fire again (its year field is exhausted, or
        no date matches).  Raises NaiveDatetimeError when ``after`` is naive.
        """
        _require_aware(after, "after")
        if tz is UTC or isinstance(tz, timezone):
            local = after.astimezone(tz)
            found = self.next_wall(local.year, local.month, local.day, local.hour, local.minute + 1)
            if found is None:
                return None
            return datetime(*found, tzinfo=tz)
        return self._next_in_zone(after, tz)

    def _next_in_zone(self, after: datetime, tz: tzinfo) -> datetime | None:
        # Instants are compared as naive UTC: inter-zone comparison of fold=0 gap times is
        # not what we want, and naive arithmetic is exact.
        after_utc = after.astimezone(UTC).replace(tzinfo=None)
        offset = after.astimezone(tz).utcoffset() or _ZERO
        earlier = (after - _ONE_DAY).astimezone(tz).utcoffset() or _ZERO
        # Just after a spring-forward gap, gap wall times (shifted forward) may still be ahead.
        floor = after_utc + min(offset, earlier)
        wall = self.next_wall(floor.year, floor.month, floor.day, floor.hour, floor.minute)
        best: tuple[datetime, datetime] | None = None
        while wall is not None:
            local = datetime(*wall, tzinfo=tz)
            off0 = local.utcoffset() or _ZERO
            off1 = local.replace(fold=1).utcoffset() or _ZERO
            instant = local.replace(tzinfo=None) - off0
            in_gap = off0 < off1
            if instant > after_utc and (best is None or instant < best[0]):
                best = (instant, local)
            if best is not None and not in_gap:
                break  # later wall times that exist all map to later instants
            y, mo, d, h, mi = wall
            wall = self.next_wall(y, mo, d, h, mi + 1)
        if best is None:
            return None
        instant, local = best
        if _in_gap(local):
            return instant.replace(tzinfo=UTC).astimezone(tz)
        return local


def _in_gap(local: datetime) -> bool:
    off0, off1 = local.utcoffset(), local.replace(fold=1).utcoffset()
    return off0 is not None and off1 is not None and off0 < off1


def parse_cron(text: str) -> CronExpression:
    """Compile a cron expression (5 fields, 6 with a year, or an ``@`` alias).

    Raises CronSyntaxError, whose message shows the expression with a caret under the
    bad text; the expression is only checked for grammar (`CronExpression.can_fire`
    tells whether it ever runs).
    """
    return tuple.__new__(CronExpression, (*parse_fields(text), text))
