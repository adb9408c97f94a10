"""The promise proof: vectors, and cross-checks against brute force (runs enumerated one by
one with the cron engine, ticks enumerated one by one) on the windows brute force can afford."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone, tzinfo
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduled_spec.at import AtSyntaxError, parse_at
from scheduled_spec.cadence import Cadence
from scheduled_spec.cron import parse_cron
from scheduled_spec.errors import NaiveDatetimeError
from scheduled_spec.local_periods import first_instant, run_instant, transitions, wall_bounds
from scheduled_spec.promise import (
    Promise,
    describe_broken_promise,
    prove_at,
    prove_cron,
    prove_interval,
)
from scheduled_spec.schedule import period_of

UTC = timezone.utc
CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent.parent / "fixtures" / "cron" / "promise.json").read_text(
        "utf-8"
    )
)
START = datetime(2026, 11, 24, 1, 35, tzinfo=UTC)
DST_ZONES = ["Europe/Stockholm", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]


def zone(name: str) -> tzinfo | None:
    if name == "UTC":
        return None
    if name[0] in "+-":
        hours, minutes = name[1:].split(":")
        sign = -1 if name[0] == "-" else 1
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    return ZoneInfo(name)


def prove(case: dict[str, Any]) -> Promise:
    start = datetime.fromisoformat(case["start"].replace("Z", "+00:00"))
    tz = zone(case["tz"])
    if case["kind"] == "cron":
        return prove_cron(case["schedule"], case["every"], start=start, tz=tz)
    if case["kind"] == "interval":
        phase = case.get("phase", 0.0)
        return prove_interval(case["schedule"], case["every"], start=start, phase=phase, tz=tz)
    return prove_at(case["schedule"], case["every"], start=start, tz=tz)


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[f"{c['kind']}:{c['schedule']}/{c['every']}@{c['tz']}" for c in CASES],
)
def test_promise_vector(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(AtSyntaxError) as caught:
            prove(case)
        assert str(caught.value) == case["error"]
        return
    promise = prove(case)
    key = promise.counterexample.key if promise.counterexample else None
    suggestion = promise.suggestion.value if promise.suggestion else None
    assert (promise.kept, key, promise.never_fires, suggestion) == (
        case["kept"],
        case["counterexample"],
        case["never_fires"],
        case["suggestion"],
    ), case["note"]
    if not promise.kept:
        assert describe_broken_promise(promise) == case["message"]


def test_the_issue_example_word_for_word() -> None:
    promise = prove_cron("0 9 * * mon-fri", "day", start=START)
    assert describe_broken_promise(promise) == (
        '"0 9 * * mon-fri" leaves Saturday 2026-11-28 (UTC) without a run,'
        ' but every = "day" promises one per day; use every = "week"'
    )


def test_describe_refuses_a_kept_promise() -> None:
    with pytest.raises(ValueError, match="kept"):
        describe_broken_promise(prove_cron("@daily", "day", start=START))


def test_naive_start_is_refused() -> None:
    with pytest.raises(NaiveDatetimeError):
        prove_cron("@daily", "day", start=datetime(2026, 1, 1))


@pytest.mark.parametrize(("seconds", "phase"), [(0.05, 0.0), (10.0, 10.0), (10.0, -1.0)])
def test_interval_arguments_are_checked(seconds: float, phase: float) -> None:
    with pytest.raises(ValueError, match=r"interval|phase"):
        prove_interval(seconds, "minute", start=START, phase=phase)


# --- cron against brute force, UTC ----------------------------------------------------


def brute_first_gap_utc(text: str, every: Cadence, start: datetime, days: int) -> str | None:
    """The first period (UTC) from the one holding ``start`` without a run, by listing runs."""
    expr, end = parse_cron(text), start + timedelta(days=days)
    keys = set()
    t = period_of(every, start).start - timedelta(microseconds=1)
    while True:
        run = expr.next_after(t)
        if run is None or run >= end:
            break
        keys.add(period_of(every, run).key)
        t = run
    period = period_of(every, start)
    while period.end <= end:
        if period.key not in keys:
            return period.key
        period = period_of(every, period.end)
    return None


day_fields = st.sampled_from(
    ["*", "1", "1-7", "*/2", "*/9", "*/10", "L", "15,L", "1-21,29", "29", "30", "31", "13"]
)
month_fields = st.sampled_from(["*", "*", "2", "jan,mar", "*/2", "2-11", "4,6,9,11"])
weekday_fields = st.sampled_from(["*", "*", "mon", "mon-fri", "L2", "Lwed-fri", "sat,sun", "5"])
years = st.sampled_from(["", "", "", " 2027-2029", " */3"])
starts = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2040, 1, 1),
    timezones=st.just(UTC),
)


@settings(max_examples=150, deadline=None)
@given(day_fields, month_fields, weekday_fields, years, starts)
def test_cron_proof_matches_brute_force(
    dom: str, month: str, dow: str, year: str, start: datetime
) -> None:
    """SPEC: "the validator proves that every period of `every` gets at least one run, over
    the whole calendar cycle (leap years and weekday alignment included), and otherwise
    reports it with a counterexample" - the earliest one, checked here against the runs
    listed one by one over three years."""
    text = f"0 12 {dom} {month} {dow}{year}"
    expr = parse_cron(text)
    for every in (Cadence.DAY, Cadence.WEEK, Cadence.MONTH):
        promise = prove_cron(expr, every, start=start, suggest=False)
        brute = brute_first_gap_utc(text, every, start, days=3 * 366)
        if promise.never_fires:
            assert brute == period_of(every, start).key or not expr.can_fire()
            continue
        found = promise.counterexample
        if brute is not None:
            assert found is not None
            assert found.key == brute, (text, every)
        elif found is not None:
            assert found.start >= start + timedelta(days=3 * 366 - 31), (text, every)
        if promise.kept:
            assert brute is None


@pytest.mark.parametrize(
    ("text", "every"),
    [
        ("*/15 * * * *", Cadence.HOUR),
        ("*/15 * * * *", Cadence.MINUTE),
        ("0 0-22 * * *", Cadence.HOUR),
        ("0-58 * * * *", Cadence.MINUTE),
        ("* 1-23 * * *", Cadence.MINUTE),
        ("0 * * * mon-fri", Cadence.HOUR),
        ("0 * 2-31 * *", Cadence.HOUR),
    ],
)
def test_sub_day_proof_matches_brute_force(text: str, every: Cadence) -> None:
    for start in (START, datetime(2027, 2, 28, 23, 59, 30, tzinfo=UTC)):
        promise = prove_cron(text, every, start=start, suggest=False)
        brute = brute_first_gap_utc(text, every, start, days=9)
        assert (promise.counterexample.key if promise.counterexample else None) == brute


# --- cron against brute force, local --------------------------------------------------


def existing_local_labels(tz: tzinfo, every: Cadence, start: datetime, end: datetime) -> list[str]:
    """Labels of the local periods that hold at least one instant, in order (5-minute steps)."""
    labels: list[str] = []
    t = start
    while t < end:
        wall = t.astimezone(tz)
        label = wall.strftime("%Y-%m-%dT%H" if every is Cadence.HOUR else "%Y-%m-%d")
        if not labels or labels[-1] != label:
            labels.append(label)
        t += timedelta(minutes=5)
    return labels


@pytest.mark.parametrize("name", [*DST_ZONES, "Asia/Dhaka"])
@pytest.mark.parametrize(
    ("text", "every"),
    [
        ("30 2 * * *", Cadence.DAY),
        ("30 23 * * *", Cadence.DAY),
        ("30 0 * * *", Cadence.DAY),
        ("15 * * * *", Cadence.HOUR),
        ("45 * * * *", Cadence.HOUR),
        ("0 0-1,3-23 * * *", Cadence.HOUR),
    ],
)
def test_local_proof_matches_runs_around_transitions(name: str, text: str, every: Cadence) -> None:
    """SPEC: "With a `timezone`, the proof is in local time and covers DST days." Around each
    transition of 2000-2012, the local periods without a run are found by listing runs."""
    tz, expr = ZoneInfo(name), parse_cron(text)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    promise = prove_cron(expr, every, start=start, tz=tz, suggest=False)
    brute: str | None = None
    for change in transitions(tz, start, 13):
        lo, hi = change.at - timedelta(days=2), change.at + timedelta(days=2)
        labels = existing_local_labels(tz, every, lo, hi)[1:-1]  # edges may be partial
        runs = set()
        t: datetime | None = lo - timedelta(days=1)
        while t is not None and t < hi + timedelta(days=1):
            t = expr.next_after(t, tz)
            if t is not None:
                runs.add(
                    t.astimezone(tz).strftime(
                        "%Y-%m-%dT%H" if every is Cadence.HOUR else "%Y-%m-%d"
                    )
                )
        missing = [label for label in labels if label not in runs]
        if missing:
            brute = missing[0]
            break
    found = promise.counterexample
    if found is not None:  # a real period, and really without a run
        assert found.start < found.end
        run = expr.next_after(found.start - timedelta(microseconds=1), tz)
        assert run is None or run >= found.end
    if brute is not None:
        assert found is not None
        assert found.key <= brute  # the earliest one
        if every is Cadence.DAY:
            assert found.key == brute


# --- interval against brute force -----------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([Cadence.MINUTE, Cadence.HOUR]),
    st.integers(min_value=1, max_value=2400),
    st.floats(min_value=0, max_value=1, exclude_max=True),
    starts,
)
def test_interval_proof_matches_brute_force(
    every: Cadence, tenths_of_period: int, phase_share: float, start: datetime
) -> None:
    """SPEC: "a period of length P always contains a tick iff N <= P"; the counterexample is
    the first period without a tick, found here by listing the ticks."""
    length = every.seconds
    seconds = length * tenths_of_period / 1200
    if seconds < 0.1:
        return
    phase = math.floor(seconds * phase_share * 1000) / 1000
    promise = prove_interval(seconds, every, start=start, phase=phase, suggest=False)
    assert promise.kept is (seconds <= length)
    period = period_of(every, start)
    origin = Fraction(int(period.start.timestamp()))
    count = 300
    # Exact arithmetic, as the proof's: a float tick a rounding error short of a period
    # boundary would land in the wrong period.
    exact, offset = Fraction(seconds), Fraction(phase)
    k = math.ceil((origin - offset) / exact)
    has_tick = [False] * count
    while (tick := offset + k * exact) < origin + count * length:
        if tick >= origin:
            has_tick[int((tick - origin) // length)] = True
        k += 1
    if False in has_tick:
        first = has_tick.index(False)
        assert promise.counterexample is not None
        expected = period_of(every, datetime.fromtimestamp(int(origin) + first * length, UTC)).key
        assert promise.counterexample.key == expected
    elif promise.counterexample is not None:
        assert promise.counterexample.start.timestamp() >= origin + (count - 1) * length


# --- at: one run per local period, DST included ---------------------------------------

AT_CASES = [
    ("02:30", Cadence.DAY, "30 2 * * *"),
    ("00:30", Cadence.DAY, "30 0 * * *"),
    ("01:45", Cadence.DAY, "45 1 * * *"),
    ("23:30", Cadence.DAY, "30 23 * * *"),
    (":15", Cadence.HOUR, "15 * * * *"),
    (":45", Cadence.HOUR, "45 * * * *"),
    ("sun 02:30", Cadence.WEEK, "30 2 * * sun"),
]


@pytest.mark.parametrize("name", DST_ZONES)
@pytest.mark.parametrize(("at", "every", "cron"), AT_CASES)
def test_at_runs_once_in_every_local_period(name: str, at: str, every: Cadence, cron: str) -> None:
    """SPEC: "a local time that does not exist runs shifted forward by the gap; a local time
    that occurs twice runs at its first occurrence; every local period gets exactly one
    run." For every transition from 2000 to 2040, the periods around it each get their own
    run, inside the period, at the instant the cron engine gives for the same wall time."""
    tz, when, expr = ZoneInfo(name), parse_at(every, at), parse_cron(cron)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    assert prove_at(at, every, start=start, tz=tz).kept
    for change in transitions(tz, start, 41):
        wall = change.at.astimezone(tz).replace(tzinfo=None)
        first = wall_bounds(every, wall - timedelta(days=8 if every is Cadence.WEEK else 1))[0]
        previous_run = None
        for _ in range(4 if every is not Cadence.HOUR else 30):
            lo, hi = wall_bounds(every, first)
            run = run_instant(lo + when.offset, tz)
            from_cron = expr.next_after(run - timedelta(microseconds=1), tz)
            assert from_cron is not None
            assert from_cron.astimezone(UTC) == run
            begin, end = first_instant(lo, tz), first_instant(hi, tz)
            first = hi
            if begin == end:
                continue  # the local period lies inside a gap: it does not exist
            assert begin <= run < end, (name, at, lo)
            assert previous_run is None or run > previous_run
            previous_run = run


def test_a_gap_ending_at_midnight_breaks_the_at_promise() -> None:
    """Asia/Dhaka skipped 23:00-24:00 on 2009-06-19: a run due at 23:30 moves to the next day."""
    promise = prove_at(
        "23:30", "day", start=datetime(2009, 1, 1, tzinfo=UTC), tz=ZoneInfo("Asia/Dhaka")
    )
    assert not promise.kept
    assert promise.counterexample is not None
    assert promise.counterexample.key == "2009-06-19"
    run = run_instant(datetime(2009, 6, 19, 23, 30), ZoneInfo("Asia/Dhaka"))
    assert run.astimezone(ZoneInfo("Asia/Dhaka")).date() == date(2009, 6, 20)


@pytest.mark.parametrize(
    ("every", "text"),
    [
        ("minute", "30"),
        ("hour", "15"),
        ("day", "9:00"),
        ("week", "monday 09:00"),
        ("month", "0 09:00"),
        ("day", "24:00"),
    ],
)
def test_at_grammar_errors(every: str, text: str) -> None:
    with pytest.raises(AtSyntaxError):
        parse_at(every, text)


def test_at_grammar() -> None:
    assert parse_at("week", "Fri 17:30").offset == timedelta(days=4, hours=17, minutes=30)
    assert parse_at("month", "28 23:59:59").offset == timedelta(
        days=27, hours=23, minutes=59, seconds=59
    )
    assert parse_at("minute", ":05").offset == timedelta(seconds=5)
    assert parse_at("hour", ":05:30").offset == timedelta(minutes=5, seconds=30)
