"""Hypothesis properties of the slot rule and the loader; each quotes the SPEC.md sentence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scheduled_spec import (
    PERIOD_SECONDS,
    Cadence,
    InvalidProject,
    Job,
    NaiveDatetimeError,
    count_periods,
    load,
    next_run,
    parse_period_key,
    period_of,
    runs_between,
    slot_offset,
    validate,
)
from scheduled_spec.cadence import next_period_start, period_key, period_start

UTC = timezone.utc
job_ids = st.text(min_size=1, max_size=128).filter(lambda s: "\x00" not in s)
cadences = st.sampled_from(list(Cadence))
salts = st.one_of(st.just(""), st.text(max_size=20))
instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1), timezones=st.just(UTC)
)


def job(job_id: str, every: Cadence) -> Job:
    return Job(id=job_id, every=every, entrypoint="app.jobs:run")


@given(job_ids, cadences, salts)
def test_offset_is_inside_its_period(job_id: str, every: Cadence, salt: str) -> None:
    """SPEC 5.3: "offset = int.from_bytes(sha256(key).digest()[:8], "big") % period_seconds"."""
    assert 0 <= slot_offset(job_id, every, salt=salt) < PERIOD_SECONDS[every]


@given(job_ids, cadences, salts, instants)
def test_next_run_is_strictly_after(job_id: str, every: Cadence, salt: str, t: datetime) -> None:
    """SPEC 5.4: "next_run(after) is the first run strictly after after"."""
    run = next_run(job(job_id, every), t, salt=salt)
    assert run.at > t
    # ... and it is the first: the run before it (one period earlier) is not after t.
    start = parse_period_key(every, run.period)
    assert run.at.timestamp() == start + slot_offset(job_id, every, salt=salt)
    longest = timedelta(days=31) if every is Cadence.MONTH else timedelta(seconds=every.seconds)
    previous = list(runs_between(job(job_id, every), run.at - longest, run.at, salt=salt))
    assert len(previous) <= 1
    assert all(r.at <= t for r in previous)


@given(job_ids, cadences, instants)
def test_exactly_one_run_per_period(job_id: str, every: Cadence, t: datetime) -> None:
    """SPEC 5.4: "The run of a period is at period_start + offset": one per period."""
    period = period_of(every, t)
    runs = list(runs_between(job(job_id, every), period.start, period.end))
    assert len(runs) == 1
    assert runs[0].period == period.key
    assert period.start <= runs[0].at < period.end


@given(cadences, instants)
def test_period_keys_round_trip(every: Cadence, t: datetime) -> None:
    """SPEC 5.5: "Each period has a key that names it"; the key determines the period."""
    start = period_start(every, int(t.timestamp()))
    assert parse_period_key(every, period_key(every, start)) == start
    following = next_period_start(every, start)
    assert following > start
    assert period_key(every, following) > period_key(every, start) or every is Cadence.WEEK


@given(cadences, instants, instants)
def test_count_periods_matches_stepping(every: Cadence, a: datetime, b: datetime) -> None:
    """SPEC 5.2: periods follow one another without gaps; counting them needs no stepping."""
    # Keep the stepping reference below short: at most a few thousand periods.
    b = a + (b - a) / {Cadence.MINUTE: 10**6, Cadence.HOUR: 10**4, Cadence.DAY: 10**3}.get(every, 1)
    lo, hi = sorted((a, b))
    steps, start = 0, period_start(every, int(lo.timestamp()))
    end = period_start(every, int(hi.timestamp()))
    while start < end:
        start = next_period_start(every, start)
        steps += 1
    assert count_periods(every, lo, hi) == steps
    assert count_periods(every, hi, lo) == -steps


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(NaiveDatetimeError, match="must be timezone-aware"):
        next_run(job("a", Cadence.DAY), datetime(2026, 11, 24))


def test_non_utc_aware_datetimes_are_the_same_instant() -> None:
    plus_two = timezone(timedelta(hours=2))
    a = next_run(job("a", Cadence.DAY), datetime(2026, 11, 24, 2, tzinfo=plus_two))
    b = next_run(job("a", Cadence.DAY), datetime(2026, 11, 24, 0, tzinfo=UTC))
    assert a == b


@settings(max_examples=8)
@given(st.lists(st.tuples(job_ids, cadences, salts), min_size=1, max_size=50))
def test_offset_is_identical_in_a_child_with_another_hash_seed(
    cases: list[tuple[str, Cadence, str]],
) -> None:
    """SPEC 5.3: the slot depends only on the bytes hashed, never on the process."""
    payload = json.dumps([[i, c.value, s] for i, c, s in cases])
    code = (
        "import json, sys; from scheduled_spec import slot_offset;"
        "print(json.dumps([slot_offset(i, c, salt=s) for i, c, s in json.load(sys.stdin)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=payload,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    ).stdout
    assert json.loads(out) == [slot_offset(i, c, salt=s) for i, c, s in cases]


# Fuzzing: whatever the text, load() returns a Project or raises InvalidProject.

VALID = """\
[project]
name = "demo"

[tool.scheduled.clean-files]
every = "day"
entrypoint = "app.jobs:clean_files"

[tool.scheduled]
report = { every = "week", entrypoint = "app.jobs:Report.run" }
"quoted id".every = "month"
"quoted id".entrypoint = "app:x"
"""


def _load_or_invalid(text: str) -> None:
    report = validate(text)
    if report.project is None:
        assert any(i.severity.value == "error" for i in report.issues)
        with pytest.raises(InvalidProject) as caught:
            load(text)
        assert caught.value.issues == report.issues
    else:
        assert all(isinstance(j, Job) for j in load(text).jobs)
    assert all(i.code.startswith("SCH") for i in report.issues)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
@example("[tool.scheduled.a]\nevery = \"day\"\nentrypoint = 'a:b'\n[[tool.scheduled.b]]\n")
@example("tool = 1")
@example("[tool]\nscheduled = 3")
@example('[tool.scheduled."\\u0000"]\nevery="day"\nentrypoint="a:b"')
def test_arbitrary_text_gives_project_or_invalid(text: str) -> None:
    _load_or_invalid(text)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_valid_file_gives_project_or_invalid(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(
            st.sampled_from(
                [
                    '"',
                    "'",
                    "[",
                    "]",
                    "=",
                    "\n",
                    ".",
                    "{",
                    "}",
                    ",",
                    "#",
                    "x",
                    " ",
                    "\\",
                    "é",
                    "\t",
                    "0",
                    ":",
                    "every",
                ]
            )
        )
        if action == "insert":
            text = text[:position] + piece + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + len(piece) :]
        else:
            text = text[:position] + piece + text[position + 1 :]
    _load_or_invalid(text)


def test_next_run_past_the_last_representable_day_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="before the end of year 9999"):
        next_run(job("a", Cadence.DAY), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
    with pytest.raises(ValueError, match="before the end of year 9999"):
        next_run(job("a", Cadence.MONTH), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))


def test_deep_nesting_is_an_issue_not_a_crash() -> None:
    report = validate("[tool.scheduled]\na = " + "[" * 2000 + "]" * 2000 + "\n")
    assert [i.code for i in report.issues] == ["SCH001"]
    assert "nested too deeply" in report.issues[0].message
