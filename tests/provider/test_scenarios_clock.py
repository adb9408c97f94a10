"""Issue 3 scenarios 1, 5 and 6: the provider's own loop code driven by a fake clock.

The real `Provider`, a real SQLite file and the inline runner; time is a `FakeClock`, so a
thousand periods of a monthly job take a second. Each test records its figure with
``record_property`` (visible with ``--junitxml``).
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scheduled_spec.cadence import PERIOD_SECONDS, Cadence, next_period_start, period_index
from scheduled_spec.cadence import period_start as start_of
from scheduled_spec.loader import load
from scheduled_spec.provider.config import ProviderConfig
from scheduled_spec.provider.inline import InlineRunner
from scheduled_spec.provider.ledger import open_ledger
from scheduled_spec.provider.loop import Provider
from scheduled_spec.slots import slot_offset
from tests.provider.conftest import Figure
from tests.provider.fakes import FakeClock
from tests.provider.helpers import Project, make_project

# A Sunday, last day of a 31-day month, one second before midnight: every cadence's slot
# of the current period has passed, so a job seen for the first time is due at once.
ALL_SLOTS_PASSED = "2026-05-31T23:59:59+00:00"
TEN_YEARS = 10 * 365 * 86_400


def settle(provider: Provider) -> None:
    """Step until no run is held or queued (inline runs end in their threads)."""
    provider.step()
    while provider.busy:
        time.sleep(0.0002)
        provider.step()


def start(project: Project, clock: FakeClock, config: ProviderConfig | None = None) -> Provider:
    ledger = open_ledger(f"{project.url}?synchronous=normal", clock=clock)
    return Provider(
        load(project.root),
        ledger,
        InlineRunner(4),
        clock,
        config or ProviderConfig(retention_days=1e6),
        monotonic=clock.monotonic,
    )


@pytest.mark.parametrize("every", list(Cadence), ids=str)
def test_one_job_runs_once_in_each_of_1000_periods(
    every: Cadence, tmp_path: Path, figure: Figure
) -> None:
    """Scenario 1: runs == periods, duplicates 0, missed 0, starts in [slot, slot + wake]."""
    project = make_project(tmp_path, {"job": (every.value, "ok")}, package=f"s1_{every.value}")
    clock = FakeClock("2026-01-01T00:00:00+00:00")
    wake = PERIOD_SECONDS[every] / 4
    provider = start(project, clock, ProviderConfig(wake=wake, retention_days=1e6))
    while len(provider.outcomes) < 1000:
        settle(provider)
        clock.advance(max(provider.next_wake(), 0.001))
    ends = project.ends("job")
    first = start_of(every, int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()))
    expected = []
    for _ in range(1000):
        expected.append(first)
        first = next_period_start(every, first)
    assert len(ends) == 1000
    assert project.duplicates("job") == 0
    assert not project.rows("kind = 'missed' OR kind = 'skipped'")
    late = [
        started - slot
        for started, slot in project.query(
            "SELECT a.started_at, r.scheduled_at FROM attempts a JOIN runs r USING (run_id)"
            " WHERE r.kind = 'scheduled'"
        )
    ]
    assert len(late) == 1000
    assert all(0 <= x <= wake for x in late)
    assert sorted(r["period_start"] for r in project.rows("kind = 'scheduled'")) == expected
    figure("runs", len(ends))
    figure("max_lateness_seconds", max(late))


def test_ten_year_jump_runs_each_job_once_and_records_one_gap(
    tmp_path: Path, figure: Figure
) -> None:
    """Scenario 5: +10 years: one run per job, one gap row, bounded work and memory."""
    jobs = {c.value: (c.value, "ok") for c in Cadence}
    project = make_project(tmp_path, jobs, package="s5")
    clock = FakeClock(ALL_SLOTS_PASSED)
    provider = start(project, clock)
    settle(provider)
    before = clock.now().timestamp()
    assert {j: len(project.ends(j)) for j in jobs} == dict.fromkeys(jobs, 1)
    clock.jump_wall(TEN_YEARS)
    tracemalloc.start()
    began = time.perf_counter()
    provider.step()
    elapsed = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    settle(provider)
    after = clock.now().timestamp()
    for every in Cadence:
        assert len(project.ends(every.value)) == 2, every
        (gap,) = project.rows("job_id = ? AND kind = 'missed'", every.value)
        due_then = start_of(every, int(before))
        due_now = start_of(every, int(after))
        if due_now + slot_offset(every.value, every) > after:  # this period's slot is ahead
            due_now = start_of(every, due_now - 1)
        assert (
            gap["missed_count"] == period_index(every, due_now) - period_index(every, due_then) - 1
        )
        assert len(project.rows("job_id = ?", every.value)) == 3
    assert peak < 2_000_000  # no per-missed-period allocation (a minute job misses 5.2 M)
    figure("due_step_ms_with_writes", round(elapsed * 1000, 1))
    figure("peak_alloc_bytes", peak)


def test_clock_stepping_back_an_hour_reruns_nothing(tmp_path: Path, figure: Figure) -> None:
    """Scenario 6: a period succeeded, then the wall clock steps back 1 h: duplicates 0."""
    jobs = {c.value: (c.value, "ok") for c in (Cadence.MINUTE, Cadence.HOUR, Cadence.DAY)}
    project = make_project(tmp_path, jobs, package="s6")
    clock = FakeClock(ALL_SLOTS_PASSED)
    provider = start(project, clock)
    settle(provider)
    clock.jump_wall(-3_600)
    end = clock.now().timestamp() + 2 * 3_600
    while clock.now().timestamp() < end:
        settle(provider)
        clock.advance(max(provider.next_wake(), 0.001))
    duplicates = sum(project.duplicates(j) for j in jobs)
    assert duplicates == 0
    assert len(project.ends("minute")) > 50  # it resumed once the clock passed its horizon
    figure("duplicates", duplicates)
