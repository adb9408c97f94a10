"""`last_run` and `count_runs` agree with enumerating runs one by one (SPEC.md 10.17)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduled_spec import runs_between
from scheduled_spec.models import Job
from scheduled_spec.run_count import count_runs, last_run
from scheduled_spec.schedule import next_run

UTC = timezone.utc

SCHEDULES: list[dict[str, object]] = [
    {"every": "day", "cron": "*/7 3-5 * * *"},
    {"every": "week", "cron": "0 9 * * mon-fri"},
    {"every": "hour", "cron": "15,45 * * * *", "timezone": "Europe/Stockholm"},
    {"every": "day", "cron": "30 2 * * *", "timezone": "America/New_York"},
    {"every": "month", "cron": "0 0 L * *", "timezone": "Australia/Lord_Howe"},
    {"every": "month", "cron": "0 12 * * Ltue 2026-2027"},
    {"every": "day", "at": "02:30", "timezone": "Europe/Stockholm"},
    {"every": "hour", "at": ":10", "timezone": "Australia/Lord_Howe"},
    {"every": "week", "at": "sun 01:30:15", "timezone": "America/Santiago"},
    {"every": "month", "at": "3 23:00"},
    {"every": "day", "timezone": "Asia/Dhaka"},
    {"every": "minute", "timezone": "Europe/Stockholm"},
    {"every": "minute", "interval": 0.25},
    {"every": "hour", "interval": "7m"},
    {"every": "day", "interval": 5_000.5},
]


def _job(i: int) -> Job:
    return Job.model_validate(
        {"id": f"job-{i}", "entrypoint": "app:job", **SCHEDULES[i]}, by_alias=True
    )


def _brute(job: Job, after: datetime, before: datetime) -> list[datetime]:
    return [r.at for r in runs_between(job, after + timedelta(microseconds=1), before)]


# Windows around the DST changes of 2026 in each zone above, and an ordinary stretch.
STARTS = [
    datetime(2026, 3, 27, 17, 3, 11, 250_000, tzinfo=UTC),
    datetime(2026, 4, 3, 9, 0, tzinfo=UTC),
    datetime(2026, 10, 23, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 10, 31, 12, 0, tzinfo=UTC),
    datetime(2009, 6, 17, 5, 0, tzinfo=UTC),
    datetime(2027, 12, 20, 0, 0, tzinfo=UTC),
]


@settings(max_examples=60, deadline=None)
@given(
    index=st.integers(0, len(SCHEDULES) - 1),
    start=st.sampled_from(STARTS),
    shift=st.integers(0, 3 * 86_400),
    days=st.floats(0, 12),
)
def test_count_runs_equals_enumeration(
    index: int, start: datetime, shift: int, days: float
) -> None:
    """SPEC 10.17.3: "the count is exact: the number of runs strictly between"."""
    job = _job(index)
    after = start + timedelta(seconds=shift)
    before = after + timedelta(days=days)
    if job.every.value == "minute":  # dense schedules: keep the brute force quick
        before = after + timedelta(hours=days / 4 if job.interval is None else days / 100)
    assert count_runs(job, after, before) == len(_brute(job, after, before))


@settings(max_examples=60, deadline=None)
@given(
    index=st.integers(0, len(SCHEDULES) - 1),
    start=st.sampled_from(STARTS),
    back=st.floats(0, 3),
    ahead=st.integers(0, 5 * 86_400),
)
def test_last_run_is_the_newest_run_in_the_window(
    index: int, start: datetime, back: float, ahead: int
) -> None:
    """SPEC 10.17.2: "the newest run r with floor < r <= now"."""
    job = _job(index)
    t = start + timedelta(seconds=ahead)
    floor = t - timedelta(days=back)
    found = last_run(job, floor, t)
    runs = _brute(job, floor, t + timedelta(microseconds=1))
    if not runs:
        assert found is None
    else:
        assert found is not None
        assert found.at == runs[-1]
        assert found == next_run(job, runs[-1] - timedelta(microseconds=1))


def test_a_ten_year_gap_of_a_minutely_cron_is_counted_without_enumerating() -> None:
    """A minutely cron over ten years (5.26 million runs) is counted day by day."""
    job = Job.model_validate(
        {
            "id": "tick",
            "entrypoint": "app:job",
            "every": "minute",
            "cron": "* * * * *",
            "timezone": "Europe/Stockholm",
        }
    )
    after = datetime(2016, 1, 1, tzinfo=UTC)
    before = datetime(2026, 1, 1, tzinfo=UTC)
    minutes = int((before - after).total_seconds()) // 60
    # Both ends excluded; each autumn's repeated wall hour runs once (SPEC 9.3.4), and
    # spring's missing hour moves onto instants that exist anyway.
    assert count_runs(job, after, before) == minutes - 1 - 10 * 60


def test_last_run_of_an_exhausted_year_field_is_its_last_run() -> None:
    job = Job.model_validate(
        {"id": "y", "entrypoint": "app:job", "every": "month", "cron": "0 12 1 * * 2026"}
    )
    now = datetime(2030, 5, 5, tzinfo=UTC)
    found = last_run(job, datetime(2020, 1, 1, tzinfo=UTC), now)
    assert found is not None
    assert found.at == datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert last_run(job, found.at, now) is None


@pytest.mark.parametrize("index", range(len(SCHEDULES)))
def test_an_empty_or_backward_window_counts_nothing(index: int) -> None:
    job = _job(index)
    t = STARTS[0]
    assert count_runs(job, t, t) == 0
    assert count_runs(job, t, t - timedelta(days=3)) == 0
    assert last_run(job, t, t) is None
