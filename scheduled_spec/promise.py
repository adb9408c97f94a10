"""The promise proof: does a schedule give every period of its ``every`` at least one run?

`prove_cron`, `prove_interval` and `prove_at` answer with a `Promise`: kept or not, the
earliest period at or after ``start`` that goes without a run (the counterexample), and
whether the schedule never runs at all.  `describe_broken_promise` words the answer.

Without a time zone the periods are the UTC periods of `scheduled_spec.cadence`.  With
one they are local (`scheduled_spec.local_periods`), and the proof has two halves:

1. the calendar half reasons on wall dates over the whole 400-year Gregorian cycle
   (`scheduled_spec.promise_walk`); it is exact for every period that no DST transition
   touches;
2. the DST half checks, directly, the periods around every offset change of the zone in
   a bounded window of `WINDOW_YEARS` years from ``start``.  Only periods holding a
   transition can lose a run (a wall time that exists runs inside its own period), and
   the tz database's rules repeat yearly, so a window that spans the 28-year weekday
   cycle with margin stands for all the years after it.
"""

from __future__ import annotations

import calendar
import math
from datetime import date, datetime, timedelta, timezone, tzinfo
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from scheduled_spec.at import AtTime, parse_at
from scheduled_spec.cadence import PERIOD_SECONDS, Cadence
from scheduled_spec.cron import CronExpression, parse_cron
from scheduled_spec.errors import NaiveDatetimeError
from scheduled_spec.local_periods import (
    is_fixed,
    local_period,
    period_containing,
    run_instant,
    transitions,
    wall_bounds,
)
from scheduled_spec.promise_walk import HORIZON_MONTHS, first_wall_gap
from scheduled_spec.schedule import Period

__all__ = [
    "WINDOW_YEARS",
    "Promise",
    "describe_broken_promise",
    "prove_at",
    "prove_cron",
    "prove_interval",
]

UTC = timezone.utc
WINDOW_YEARS = 40
MIN_INTERVAL = 0.1
_ORDER = (Cadence.MINUTE, Cadence.HOUR, Cadence.DAY, Cadence.WEEK, Cadence.MONTH)
_EPSILON = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WEEK_ANCHOR = 4 * 86_400  # 1970-01-05, a Monday
_MAX_CANDIDATES = 64


class Promise(NamedTuple):
    """The answer of a proof.

    ``counterexample`` is the earliest period (at or after ``start``) without a run, its
    key local when a time zone is given, its bounds UTC.  It is None for a broken
    promise only when no date ever matches (``never_fires``) or when the proof knows a
    period goes without a run but did not meet one inside its window.
    ``suggestion`` is the smallest cadence the schedule does keep, when this one is
    broken (None when none is kept, or when not asked for).
    """

    kept: bool
    counterexample: Period | None
    never_fires: bool
    every: Cadence
    subject: str
    zone: str
    suggestion: Cadence | None = None


def _zone_name(tz: tzinfo | None) -> str:
    if tz is None or tz is UTC:
        return "UTC"
    return str(getattr(tz, "key", None) or tz)


def _check_start(start: datetime) -> None:
    if start.tzinfo is None or start.utcoffset() is None:
        raise NaiveDatetimeError(
            f"start must be timezone-aware, got naive {start.isoformat()};"
            " pass datetime(..., tzinfo=timezone.utc)"
        )


def _wall(instant: datetime, tz: tzinfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def _earliest(a: Period | None, b: Period | None) -> Period | None:
    if a is None or b is None:
        return a or b
    return a if a.start <= b.start else b


@lru_cache(maxsize=256)
def _around_transitions(every: Cadence, tz: tzinfo, start: datetime) -> tuple[Period, ...]:
    """The non-empty local periods holding an offset change, in the window, in order.

    Cached: the validator proves many jobs of one zone from one start (a local slot is one
    proof per job), and this is most of each proof's time.
    """
    seen: dict[str, Period] = {}
    for change in transitions(tz, start, WINDOW_YEARS):
        for instant in (change.at - _EPSILON, change.at):
            period = period_containing(every, instant, tz)
            if period.end > start and period.start < period.end:
                seen.setdefault(period.key, period)
    return tuple(sorted(seen.values(), key=lambda p: p.start))


def _suggest(prove: object, every: Cadence) -> Cadence | None:
    for cadence in _ORDER[_ORDER.index(every) + 1 :]:
        if prove(cadence).kept:  # type: ignore[operator]
            return cadence
    return None


# --- cron ---------------------------------------------------------------------------


def _has_run(expr: CronExpression, tz: tzinfo, period: Period) -> bool:
    run = expr.next_after(period.start - _EPSILON, tz)
    return run is not None and run < period.end


def prove_cron(
    cron: CronExpression | str,
    every: Cadence | str,
    *,
    start: datetime,
    tz: tzinfo | None = None,
    suggest: bool = True,
) -> Promise:
    """Prove that ``cron`` runs at least once in every period of ``every`` from ``start``.

    Raises CronSyntaxError for a bad expression, NaiveDatetimeError for a naive start.
    """
    _check_start(start)
    expr = parse_cron(cron) if isinstance(cron, str) else cron
    cadence = Cadence(every)
    zone = tz or UTC
    subject, name = f'"{expr.text}"', _zone_name(tz)
    if not expr.can_fire():
        return Promise(False, None, True, cadence, subject, name)
    if expr.next_after(start - _EPSILON, zone) is None:
        first = period_containing(cadence, start, zone)
        return Promise(False, first, True, cadence, subject, name)
    found: Period | None = None
    wall = _wall(start, zone)
    for _ in range(_MAX_CANDIDATES):
        bounds = first_wall_gap(expr, cadence, wall)
        if bounds is None:
            break
        period = local_period(cadence, *bounds, zone)
        if period.start < period.end and not _has_run(expr, zone, period):
            found = period
            break
        wall = bounds[1]  # rescued by a run shifted out of a DST gap, or empty: go on
    if not is_fixed(zone):
        for period in _around_transitions(cadence, zone, start):
            if found is not None and period.start >= found.start:
                break
            if not _has_run(expr, zone, period):
                found = period
                break
    suggestion = None
    if found is not None and suggest:
        suggestion = _suggest(
            lambda c: prove_cron(expr, c, start=start, tz=tz, suggest=False), cadence
        )
    return Promise(found is None, found, False, cadence, subject, name, suggestion)


# --- interval -----------------------------------------------------------------------


def _seconds(t: datetime) -> Fraction:
    delta = t - _EPOCH
    return Fraction(delta.days * 86_400 + delta.seconds) + Fraction(delta.microseconds, 10**6)


def _instant(seconds: Fraction) -> datetime:
    whole = math.floor(seconds)
    return _EPOCH + timedelta(seconds=whole, microseconds=round((seconds - whole) * 10**6))


class _Ticks(NamedTuple):
    every: Fraction
    phase: Fraction

    def in_span(self, start: Fraction, end: Fraction) -> bool:
        return start + (self.phase - start) % self.every < end

    def first_empty(self, first: Fraction, length: int) -> int:
        """Index k of the first empty period [first + kL, first + (k+1)L); needs every > L."""
        x = (self.phase - first) % self.every
        return 0 if x >= length else math.ceil((length - x) / (self.every - length))


def _tiling_gap(
    ticks: _Ticks, cadence: Cadence, lo: Fraction, hi: Fraction | None, offset: int
) -> Fraction | None:
    """First empty period, wholly inside [lo, hi), of a fixed-length tiling at UTC offset."""
    length = PERIOD_SECONDS[cadence]
    anchor = _WEEK_ANCHOR if cadence is Cadence.WEEK else 0
    first = lo + (anchor - offset - lo) % length
    begin = first + ticks.first_empty(first, length) * length
    return begin if hi is None or begin + length <= hi else None


def _month_gap(ticks: _Ticks, start: datetime, tz: tzinfo, months: int) -> Period | None:
    wall = wall_bounds(Cadence.MONTH, _wall(start, tz))[0]
    for _ in range(months):
        nxt = wall_bounds(Cadence.MONTH, wall + timedelta(days=31))[0]
        period = local_period(Cadence.MONTH, wall, nxt, tz)
        if not ticks.in_span(_seconds(period.start), _seconds(period.end)):
            return period
        wall = nxt
    return None


def prove_interval(
    seconds: float,
    every: Cadence | str,
    *,
    start: datetime,
    phase: float = 0.0,
    tz: tzinfo | None = None,
    suggest: bool = True,
) -> Promise:
    """Prove that ticks at ``phase + k * seconds`` (Unix time) reach every period.

    The promise is kept iff ``seconds`` is at most the shortest period: a period of
    length P holds a tick whatever the phase iff the ticks are at most P apart.  The
    shortest UTC month is 28 days; local periods that hold a DST change are measured
    (a local day can last 23 hours, a Lord Howe hour 30 minutes).  The counterexample
    is the first period, for this ``phase``, without a tick; it is None when this phase
    happens to reach every period searched.  Raises ValueError when ``seconds < 0.1`` or
    ``phase`` is not in ``[0, seconds)``.
    """
    _check_start(start)
    if not seconds >= MIN_INTERVAL:
        raise ValueError(f"interval must be at least {MIN_INTERVAL} s, got {seconds!r}")
    if not 0 <= phase < seconds:
        raise ValueError(f"phase must be in [0, {seconds!r}), got {phase!r}")
    cadence, zone = Cadence(every), tz or UTC
    ticks = _Ticks(Fraction(seconds), Fraction(phase))
    shown = int(seconds) if float(seconds).is_integer() else seconds
    subject, name = f"a tick every {shown} s", _zone_name(tz)
    nominal = 28 * 86_400 if cadence is Cadence.MONTH else PERIOD_SECONDS[cadence]
    shortest = Fraction(nominal)
    found: Period | None = None
    if not is_fixed(zone):
        for period in _around_transitions(cadence, zone, start):
            span = (_seconds(period.start), _seconds(period.end))
            shortest = min(shortest, span[1] - span[0])
            if found is None and not ticks.in_span(*span):
                found = period
    if ticks.every > nominal:
        if cadence is Cadence.MONTH:
            months = HORIZON_MONTHS if is_fixed(zone) else WINDOW_YEARS * 12
            found = _earliest(found, _month_gap(ticks, start, zone, months))
        else:
            found = _earliest(found, _regular_gap(ticks, cadence, start, zone))
    kept = ticks.every <= shortest
    suggestion = None
    if not kept and suggest:
        suggestion = _suggest(
            lambda c: prove_interval(seconds, c, start=start, phase=phase, tz=tz, suggest=False),
            cadence,
        )
    return Promise(kept, found, False, cadence, subject, name, suggestion)


def _regular_gap(ticks: _Ticks, cadence: Cadence, start: datetime, tz: tzinfo) -> Period | None:
    """First empty period lying between two offset changes (each stretch is a tiling)."""
    changes = [c.at for c in transitions(tz, start, WINDOW_YEARS) if c.at > start]
    lows = [_seconds(period_containing(cadence, start, tz).start)]
    lows += [_seconds(at) for at in changes]
    for i, lo in enumerate(lows):
        hi = lows[i + 1] if i + 1 < len(lows) else None
        offset = (_instant(lo).astimezone(tz).utcoffset() or timedelta(0)).total_seconds()
        begin = _tiling_gap(ticks, cadence, lo, hi, int(offset))
        if begin is not None:
            return period_containing(cadence, _instant(begin), tz)
    return None


# --- at -----------------------------------------------------------------------------


def prove_at(
    at: AtTime | str,
    every: Cadence | str,
    *,
    start: datetime,
    tz: tzinfo | None = None,
) -> Promise:
    """Prove that a fixed wall time gives every local period its run.

    In UTC this holds by construction.  In a zone with DST the run of each period next to
    an offset change is placed with the DST rule and checked to fall inside its period.
    Raises AtSyntaxError, NaiveDatetimeError.
    """
    _check_start(start)
    cadence = Cadence(every)
    when = parse_at(cadence, at) if isinstance(at, str) else at
    zone = tz or UTC
    subject = f'"{at}"' if isinstance(at, str) else repr(when)
    found = None
    if not is_fixed(zone):
        due = when.offset
        for period, wall in _transition_walls(cadence, zone, start):
            run = run_instant(wall + due, zone)
            if not period.start <= run < period.end:
                found = period
                break
    return Promise(found is None, found, False, cadence, subject, _zone_name(tz))


@lru_cache(maxsize=256)
def _transition_walls(
    every: Cadence, tz: tzinfo, start: datetime
) -> tuple[tuple[Period, datetime], ...]:
    """`_around_transitions` with each period's wall start: the same for every job."""
    return tuple(
        (period, wall_bounds(every, _wall(period.start, tz))[0])
        for period in _around_transitions(every, tz, start)
    )


# --- words --------------------------------------------------------------------------


def _label(every: Cadence, key: str) -> str:
    if every is Cadence.DAY:
        day = date.fromisoformat(key)
        return f"{calendar.day_name[day.weekday()]} {key}"
    if every is Cadence.WEEK:
        year, week = key.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
        return f"the week {key} (from Monday {monday.isoformat()})"
    if every is Cadence.MONTH:
        year, month = key.split("-")
        return f"{calendar.month_name[int(month)]} {year}"
    return f"the {every.value} {key}"


def describe_broken_promise(promise: Promise) -> str:
    """One sentence, in the words of the issue: which period goes without a run, and what to
    use instead.  Raises ValueError for a promise that is kept."""
    if promise.kept:
        raise ValueError("the promise is kept: there is nothing to describe")
    every = promise.every.value
    if promise.never_fires:
        if promise.counterexample is None:
            return f"{promise.subject} never runs: no date matches it"
        key = promise.counterexample.key
        return f"{promise.subject} never runs in or after {key} ({promise.zone})"
    if promise.counterexample is None:
        where = f"can leave a {every} ({promise.zone})"
    else:
        where = f"leaves {_label(promise.every, promise.counterexample.key)} ({promise.zone})"
    text = (
        f'{promise.subject} {where} without a run, but every = "{every}" promises one per {every}'
    )

    if promise.suggestion is not None:
        return f'{text}; use every = "{promise.suggestion.value}"'
    return f"{text}; no cadence is kept by this schedule"
