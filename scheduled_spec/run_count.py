"""Looking back along a job's runs without enumerating them (SPEC.md 10.17).

After downtime a provider needs, for a job placed by an extension schedule, the newest
run at or before `now` and how many runs a gap holds. `next_run` only walks forward, and
walking a ten-year gap of a minutely cron run by run would take minutes, so:

- `last_run` bisects on `next_run` (O(log) calls), arithmetic for `interval`;
- `count_runs` is arithmetic for `interval`, and otherwise adds a per-wall-day count
  (from the cron masks, or one run per local period) for every day that no offset change
  touches, enumerating runs only on the two partial end days and on days holding an
  offset change: O(days) cheap steps, never O(runs).

Pure, like the rest of the core: every instant is a parameter.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo

from scheduled_spec.cadence import Cadence
from scheduled_spec.extensions import Trigger, phase_ms, slot_at_time
from scheduled_spec.local_periods import first_instant, is_fixed
from scheduled_spec.models import Job
from scheduled_spec.schedule import Run, next_run

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TINY = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_RUNS_PER_DAY = {Cadence.MINUTE: 1_440, Cadence.HOUR: 24, Cadence.DAY: 1}


def _micros(t: datetime) -> int:
    return (t - _EPOCH) // _TINY


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _tick_bounds(job: Job, found: Trigger, salt: str) -> tuple[int, int]:
    step = found.interval_ms * 1_000
    return step, phase_ms(job.id, found.interval_ms, salt) * 1_000


def run_after(job: Job, after: datetime, salt: str = "") -> Run | None:
    """The job's first run strictly after `after` (`next_run`), None when it has none left."""
    try:
        return next_run(job, after, salt=salt)
    except ValueError:  # a cron year field exhausted, or the end of year 9999
        return None


def last_run(job: Job, floor: datetime, t: datetime, *, salt: str = "") -> Run | None:
    """The newest run ``r`` with ``floor < r.at <= t``, or None when there is none.

    Works for every kind of schedule; costs O(log((t - floor) / 1 µs)) calls of
    `next_run` (arithmetic for `interval`).
    """
    if t <= floor:
        return None
    found = job.trigger()
    if found.kind == "interval":
        step, phase = _tick_bounds(job, found, salt)
        tick = phase + (_micros(t) - phase) // step * step
        if tick <= _micros(floor):
            return None
        return next_run(job, _instant(tick) - _TINY, salt=salt)
    first = run_after(job, floor, salt)
    if first is None or first.at > t:
        return None
    # Invariant: next(lo) <= t < next(hi). Gallop back from t (doubling the step) until a
    # probe finds a run at or before t, then bisect; each run found moves lo to just before
    # it, and a run whose successor lies after t is the answer.
    lo, hi = _micros(first.at) - 1, _micros(t)
    best, width = first, 1_000_000
    while True:
        following = run_after(job, best.at, salt)
        if following is None or following.at > t:
            return best
        lo = _micros(following.at) - 1
        best = following
        if hi - lo <= 1:  # pragma: no cover - next(lo) <= t < next(lo + 1) returned above
            return best
        probe = hi - width if width < hi - lo else (lo + hi) // 2
        width *= 2
        found_run = run_after(job, _instant(probe), salt)
        if found_run is not None and found_run.at <= t:
            best, lo = found_run, _micros(found_run.at) - 1
        else:
            hi = probe


def count_runs(job: Job, after: datetime, before: datetime, *, salt: str = "") -> int:
    """How many runs ``r`` have ``after < r.at < before`` (0 when ``before <= after``)."""
    if before <= after:
        return 0
    found = job.trigger()
    if found.kind == "interval":
        step, phase = _tick_bounds(job, found, salt)
        return max(0, (_micros(before) - 1 - phase) // step - (_micros(after) - phase) // step)
    tz = found.zone
    first_day = after.astimezone(tz).date() + _DAY
    last_day = before.astimezone(tz).date()
    if last_day <= first_day:
        return _enumerate(job, after, before, salt)
    first_start, last_start = _day_start(first_day, tz), _day_start(last_day, tz)
    total = _enumerate(job, after, first_start, salt)
    total += _enumerate(job, last_start - _TINY, before, salt)
    fixed = is_fixed(tz)
    day, start = first_day, first_start
    while day < last_day:
        following = day + _DAY
        end = _day_start(following, tz)
        if fixed or (start.utcoffset() == end.utcoffset() and end - start == _DAY):
            total += _runs_on(job, found, day, salt)
        else:  # an offset change: count this day's runs one by one
            total += _enumerate(job, start - _TINY, end, salt)
        day, start = following, end
    return total


def _day_start(day: date, tz: tzinfo) -> datetime:
    """The first instant of wall day `day` in `tz` (aware, in `tz`)."""
    wall = datetime(day.year, day.month, day.day)  # a wall time, placed next
    return first_instant(wall, tz).astimezone(tz)


def _enumerate(job: Job, after: datetime, before: datetime, salt: str) -> int:
    """Runs with ``after < r.at < before``, one by one (used on at most a few days)."""
    count = 0
    run = run_after(job, after, salt)
    while run is not None and run.at < before:
        count += 1
        run = run_after(job, run.at, salt)
    return count


def _runs_on(job: Job, found: Trigger, day: date, salt: str) -> int:
    """Runs on a wall day that no offset change touches: each wall time maps to one instant."""
    if found.kind == "cron":
        cron = found.cron
        assert cron is not None  # noqa: S101 - the kind says so
        if not (cron.year_allowed(day.year) and cron.months >> day.month & 1):
            return 0
        if not cron.day_mask(day.year, day.month) >> day.day & 1:
            return 0
        return cron.minutes.bit_count() * cron.hours.bit_count()
    every = job.every
    per_day = _RUNS_PER_DAY.get(every)
    if per_day is not None:
        return per_day
    when = found.at if found.at is not None else slot_at_time(every, job.offset(salt))
    if every is Cadence.WEEK:
        return int(day.weekday() == when.day)
    return int(day.day == when.day)
