"""The cron engine: grammar, errors with carets, next run times, DST, and differential
tests against croniter and cronsim (test-only dependencies) on the syntax they share."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import croniter as croniter_module
import cronsim as cronsim_module
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduled_spec.cron import CronExpression, CronSyntaxError, parse_cron
from scheduled_spec.errors import NaiveDatetimeError, ScheduledError
from scheduled_spec.local_periods import transitions

UTC = timezone.utc
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cron"
VECTORS: list[dict[str, Any]] = json.loads((FIXTURES / "vectors.json").read_text("utf-8"))
INVALID: list[dict[str, Any]] = json.loads((FIXTURES / "invalid.json").read_text("utf-8"))


def zone(name: str) -> tzinfo:
    """``UTC``, a fixed offset such as ``+05:30``, or an IANA name."""
    if name == "UTC":
        return UTC
    if name[0] in "+-":
        hours, minutes = name[1:].split(":")
        sign = -1 if name[0] == "-" else 1
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    return ZoneInfo(name)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- vectors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", VECTORS, ids=[f"{c['expression']}@{c['tz']}:{c['after']}" for c in VECTORS]
)
def test_vector(case: dict[str, Any]) -> None:
    expr, tz = parse_cron(case["expression"]), zone(case["tz"])
    t: datetime | None = instant(case["after"])
    got: list[str] = []
    for _ in range(max(len(case["next"]), 1)):
        assert t is not None
        t = expr.next_after(t, tz)
        if t is None:
            break
        got.append(t.isoformat())
    assert got[: len(case["next"])] == case["next"], case["note"]
    if not case["next"]:
        assert got == []


@pytest.mark.parametrize("case", INVALID, ids=[repr(c["expression"]) for c in INVALID])
def test_invalid_vector(case: dict[str, Any]) -> None:
    with pytest.raises(CronSyntaxError) as caught:
        parse_cron(case["expression"])
    error = caught.value
    assert (error.field, error.position, error.length) == (
        case["field"],
        case["position"],
        case["length"],
    )
    assert error.reason == case["reason"]
    assert error.hint == case["hint"]
    assert str(error) == case["message"]


def test_error_renders_the_issue_example() -> None:
    with pytest.raises(CronSyntaxError) as caught:
        parse_cron("0 25 * * *")
    assert str(caught.value) == (
        'cron: "0 25 * * *": hour 25 is out of range 0-23\n       0 25 * * *\n         ^^'
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("60 * * * *", "minute 60 is out of range 0-59"),
        (
            "* * * *",
            (
                "expected 5 fields (minute hour day-of-month month day-of-week)"
                " or 6 (the sixth a year), got 4"
            ),
        ),
        ("0 0 * * mon-", 'day-of-week range "mon-" has no end'),
        ("*/0 * * * *", "minute step must be at least 1, got 0"),
        (
            "0 0 L * Lfoo",
            'day-of-week "foo" is not a weekday name (sun-sat) or a number (0-7)',
        ),
    ],
)
def test_common_mistakes_have_exact_reasons(text: str, reason: str) -> None:
    with pytest.raises(CronSyntaxError, match=None) as caught:
        parse_cron(text)
    assert caught.value.reason == reason
    assert str(caught.value).splitlines()[0] == f'cron: "{text}": {reason}'


def test_error_is_a_scheduled_error_and_a_value_error() -> None:
    with pytest.raises(ScheduledError):
        parse_cron("61 * * * *")
    with pytest.raises(ValueError, match="out of range"):
        parse_cron("61 * * * *")


# --- semantics ------------------------------------------------------------------------


def test_naive_after_is_refused() -> None:
    with pytest.raises(NaiveDatetimeError):
        parse_cron("* * * * *").next_after(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("0 0 30 2 *", False),
        ("0 0 31 4,6,9,11 *", False),
        ("0 0 31 2,4 * 2030", False),
        ("0 0 29 2 *", True),
        ("0 0 29 2 * 2100", False),
        ("0 0 29 2 * 2100-2103", False),
        ("0 0 29 2 * 2104", True),
        ("0 0 30 2 mon", True),  # both restricted: any Monday in February
        ("0 0 L 2 *", True),
        ("0 0 * 2 L1", True),
    ],
)
def test_can_fire(text: str, fires: bool) -> None:
    expr = parse_cron(text)
    assert expr.can_fire() is fires
    run = expr.next_after(datetime(2026, 1, 1, tzinfo=UTC))
    assert (run is not None) is fires


def test_equality_is_on_meaning() -> None:
    assert parse_cron("@daily") == parse_cron("0 0 * * *")
    assert hash(parse_cron("@weekly")) == hash(parse_cron("0 0 * * sun"))
    assert parse_cron("0 0 * * 7") == parse_cron("0 0 * * 0")
    assert parse_cron("0 0 * * *") != parse_cron("0 0 * * * *")
    assert str(parse_cron("@daily")) == "@daily"
    assert isinstance(parse_cron("@daily"), CronExpression)


def test_matches_uses_the_wall_clock() -> None:
    expr = parse_cron("30 2 * * *")
    assert expr.matches(datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/Stockholm")))
    assert not expr.matches(datetime(2026, 3, 29, 2, 30, tzinfo=UTC) + timedelta(minutes=1))


# --- DST: one run per local day -------------------------------------------------------

DAILY_ACROSS_DST = [
    ("Europe/Stockholm", "30 2 * * *"),
    ("Europe/Stockholm", "0 3 * * *"),
    ("America/New_York", "30 1 * * *"),
    ("America/New_York", "30 2 * * *"),
    ("Australia/Lord_Howe", "15 2 * * *"),
    ("Australia/Lord_Howe", "45 1 * * *"),
    ("America/Santiago", "30 0 * * *"),
    ("America/Santiago", "30 23 * * *"),
    ("Asia/Tokyo", "0 0 * * *"),
]


@pytest.mark.parametrize(("name", "text"), DAILY_ACROSS_DST)
def test_daily_runs_once_per_local_day_2000_to_2040(name: str, text: str) -> None:
    """SPEC: "a local time that does not exist runs shifted forward by the gap; a local
    time that occurs twice runs at its first occurrence; every local period gets exactly
    one run." Checked on every day, so on every transition, from 2000 to 2040."""
    tz, expr = ZoneInfo(name), parse_cron(text)
    t: datetime | None = datetime(2000, 1, 1, tzinfo=tz) - timedelta(microseconds=1)
    day = date(2000, 1, 1)
    transitions = 0
    previous_offset = None
    while day < date(2041, 1, 1):
        assert t is not None
        t = expr.next_after(t, tz)
        assert t is not None
        assert t.date() == day, f"{text} in {name}: expected a run on {day}, got {t}"
        transitions += t.utcoffset() != previous_offset
        previous_offset = t.utcoffset()
        day += timedelta(days=1)
    if name != "Asia/Tokyo":
        assert transitions > 60  # the walk really crossed the transitions


# --- differential tests ---------------------------------------------------------------

_FIELDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _value(rng: random.Random, index: int, value: int) -> str:
    if index == 3 and rng.random() < 0.3:
        return _MONTHS[value - 1]
    if index == 4 and value < 7 and rng.random() < 0.3:
        return _DAYS[value]
    return str(value)


def _item(rng: random.Random, index: int) -> str:
    lo, hi = _FIELDS[index]
    kind = rng.random()
    if kind < 0.2:
        return f"*/{rng.randint(1, hi // 2 + 1)}"
    if kind < 0.6:
        return _value(rng, index, rng.randint(lo, hi))
    a = rng.randint(lo, hi)
    b = rng.randint(a, hi)
    text = f"{_value(rng, index, a)}-{_value(rng, index, b)}"
    if kind < 0.75 and a < b:  # cronsim reads "27-27/5" as "27/5"; Vixie as "27"
        text += f"/{rng.randint(1, 5)}"
    elif kind < 0.85 and index in {0, 1}:
        text = f"{a}/{rng.randint(1, 20)}"  # a/step: a-max/step (not in day-of-week: see docs)
    return text


def _field(rng: random.Random, index: int) -> str:
    if rng.random() < [0.15, 0.3, 0.55, 0.6, 0.55][index]:
        return "*"
    if index == 2 and rng.random() < 0.1:
        return "L"
    return ",".join(_item(rng, index) for _ in range(rng.choice([1, 1, 1, 2, 3])))


def random_expressions(seed: int, count: int) -> list[str]:
    rng = random.Random(  # noqa: S311 - seeded test data, not secrets
        seed
    )
    return [" ".join(_field(rng, i) for i in range(5)) for _ in range(count)]


def _start(rng: random.Random) -> datetime:
    seconds = rng.randint(946_684_800, 1_924_992_000)  # 2000 to 2031
    return datetime.fromtimestamp(seconds, UTC)


def _star_rule_differs(text: str) -> bool:
    """croniter decides AND/OR of the day fields by its own rule when a day field holds a
    "*/n" item; Vixie cron and cronsim look at the field's first character only."""
    dom, dow = text.split()[2], text.split()[4]
    starred = "*" in dom.replace("*", "", dom == "*") or "*" in dow.replace("*", "", dow == "*")
    return starred and dom != "*" and dow != "*"


def _single_value_range(text: str) -> bool:
    """croniter 7 reads a range of one value ("23-23", "12-dec") as "*": skip those."""
    names = {name: i + 1 for i, name in enumerate(_MONTHS)} | {d: i for i, d in enumerate(_DAYS)}
    for item in text.replace(",", " ").split():
        first, dash, last = item.split("/")[0].partition("-")
        if dash and names.get(first, first) == names.get(last, last):
            return True
        if dash and str(names.get(first, first)) == str(names.get(last, last)):
            return True
    return False


def _croniter_next(text: str, t: datetime) -> datetime | None:
    try:
        found: datetime = croniter_module.croniter(text, t).get_next(datetime)
    except (croniter_module.CroniterBadDateError, croniter_module.CroniterBadCronError):
        return None
    return found


def _cronsim_next(text: str, t: datetime) -> datetime | None:
    try:
        found: datetime = next(cronsim_module.CronSim(text, t))
    except (StopIteration, cronsim_module.CronSimError):
        return None
    return found


@pytest.mark.parametrize("batch", range(4))
def test_same_runs_as_cronsim_and_croniter(batch: int) -> None:
    rng = random.Random(  # noqa: S311 - seeded test data, not secrets
        1000 + batch
    )
    compared = 0
    for text in random_expressions(batch, 1000):
        expr = parse_cron(text)
        if not expr.can_fire():
            continue
        t = _start(rng)
        ours = [expr.next_after(t)]
        theirs = [_cronsim_next(text, t)]
        for _ in range(2):
            previous = ours[-1]
            assert previous is not None
            ours.append(expr.next_after(previous))
            theirs.append(_cronsim_next(text, previous))
        assert ours == theirs, f"cronsim disagrees on {text!r} after {t}"
        if not _star_rule_differs(text) and not _single_value_range(text):
            assert ours[0] == _croniter_next(text, t), f"croniter disagrees on {text!r} after {t}"
        compared += 1
    assert compared > 900


@pytest.mark.parametrize("weekday", range(8))
def test_last_weekday_agrees_with_croniter(weekday: int) -> None:
    rng = random.Random(  # noqa: S311 - seeded test data, not secrets
        weekday
    )
    text = f"{rng.randint(0, 59)} {rng.randint(0, 23)} * * L{weekday}"
    expr = parse_cron(text)
    for _ in range(50):
        t = _start(rng)
        assert expr.next_after(t) == _croniter_next(text, t), text


# --- properties -----------------------------------------------------------------------

expressions = st.sampled_from(random_expressions(99, 400)).map(parse_cron)
instants = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2150, 1, 1),
    timezones=st.just(UTC),
)


@settings(max_examples=300, deadline=None)
@given(expressions, instants, st.integers(min_value=1, max_value=10_000))
def test_next_after_is_the_first_match_strictly_after(
    expr: CronExpression, after: datetime, back: int
) -> None:
    """SPEC: "next_after returns the first matching instant strictly after `after`"."""
    run = expr.next_after(after)
    if run is None:
        assert not expr.can_fire()
        return
    assert run > after
    assert run.second == 0
    assert run.microsecond == 0
    assert expr.matches(run)
    # Any instant between `after` and the run has the same next run: nothing was skipped.
    between = max(
        after, min(after + (run - after) * (back / 10_001), run - timedelta(microseconds=1))
    )
    assert expr.next_after(between) == run
    assert expr.next_after(run - timedelta(minutes=1)) == run


ZONE_POOL = ["Europe/Stockholm", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]
LOCAL_EXPRESSIONS = [
    "*/7 * * * *",
    "15,45 * * * *",
    "0 * * * *",
    "59 * * * *",
    "20,40 2 * * *",
    "*/20 1-3 * * *",
    "30 0,23 * * *",
    "0,30 2 * * *",
    "10 1,3 * * *",
]


def _brute_next_in_zone(text: str, after: datetime, tz: tzinfo) -> datetime | None:
    """Every wall minute from 3 hours before `after` to 27 hours after, placed with the DST
    rule (fold 0, which shifts gap times forward), and the earliest one after `after`."""
    expr = parse_cron(text)
    wall = after.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    best = None
    for minute in range(-180, 27 * 60):
        local = (wall + timedelta(minutes=minute)).replace(tzinfo=tz)
        if not expr.matches(local):
            continue
        run = local.astimezone(UTC)
        if run > after and (best is None or run < best):
            best = run
    return best


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(ZONE_POOL),
    st.sampled_from(LOCAL_EXPRESSIONS),
    st.integers(min_value=0, max_value=79),
    st.integers(min_value=-300, max_value=300),
)
def test_next_after_in_a_zone_matches_brute_force_around_transitions(
    name: str, text: str, which: int, minutes: int
) -> None:
    """SPEC: "a local time that does not exist runs shifted forward by the gap; a local time
    that occurs twice runs at its first occurrence" - near every kind of transition."""
    tz = ZoneInfo(name)
    changes = transitions(tz, datetime(2020, 1, 1, tzinfo=UTC), 40)
    after = changes[which].at + timedelta(minutes=minutes, seconds=7)
    run = parse_cron(text).next_after(after, tz)
    assert run is not None
    assert run.astimezone(UTC) == _brute_next_in_zone(text, after, tz)
