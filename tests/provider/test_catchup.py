"""The due and catch-up arithmetic (SPEC.md 10.5), checked against enumeration."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduled_spec.cadence import Cadence, next_period_start, period_start
from scheduled_spec.provider.catchup import CatchUp, Plan, latest_due, next_slot, plan

DAY = 86_400
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, a Thursday
OFFSET = 3_600  # daily slot at 01:00


def test_first_sight_runs_the_current_period_only_after_its_slot() -> None:
    assert plan(Cadence.DAY, OFFSET, None, T0 + 10) == Plan()
    assert plan(Cadence.DAY, OFFSET, None, T0 + OFFSET) == Plan(run=(T0,), horizon=T0)
    assert plan(Cadence.DAY, OFFSET, None, T0 + 5 * DAY + 7_000) == Plan(
        run=(T0 + 5 * DAY,), horizon=T0 + 5 * DAY
    )


def test_down_three_days_latest_runs_one_and_records_two_missed() -> None:
    """Issue 3 scenario 4 (latest): exactly 1 catch-up run, 2 periods missed."""
    decided = plan(Cadence.DAY, OFFSET, T0, T0 + 3 * DAY + OFFSET, CatchUp.LATEST)
    assert decided.run == (T0 + 3 * DAY,)
    assert decided.missed == (T0 + DAY, T0 + 2 * DAY, 2)


def test_down_three_days_all_runs_three() -> None:
    """Issue 3 scenario 4 (all): 3 runs, oldest first."""
    decided = plan(Cadence.DAY, OFFSET, T0, T0 + 3 * DAY + OFFSET, CatchUp.ALL)
    assert decided.run == (T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY)
    assert decided.missed is None


def test_all_runs_up_to_the_cap_and_records_the_rest_as_one_gap() -> None:
    decided = plan(Cadence.DAY, OFFSET, T0, T0 + 10 * DAY + OFFSET, CatchUp.ALL, cap=3)
    assert decided.run == (T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY, T0 + 10 * DAY)
    assert decided.missed == (T0 + 4 * DAY, T0 + 9 * DAY, 6)


def test_none_records_everything_due_as_missed_and_runs_nothing() -> None:
    decided = plan(Cadence.DAY, OFFSET, T0, T0 + 3 * DAY + OFFSET, CatchUp.NONE)
    assert decided.run == ()
    assert decided.missed == (T0 + DAY, T0 + 3 * DAY, 3)
    assert decided.horizon == T0 + 3 * DAY


@pytest.mark.parametrize("policy", list(CatchUp), ids=str)
def test_the_period_after_the_horizon_runs_under_every_policy(policy: CatchUp) -> None:
    """SPEC.md 10.5.3: `none` is about downtime; the next period, at its slot (or a tick
    later in it), runs. It was recorded missed, so a job under `none` never ran."""
    for late in (0, 3_600, DAY - OFFSET - 1):
        decided = plan(Cadence.DAY, OFFSET, T0, T0 + DAY + OFFSET + late, policy)
        assert decided == Plan(run=(T0 + DAY,), horizon=T0 + DAY)


def test_a_horizon_in_the_future_makes_nothing_due() -> None:
    """A backward clock jump never re-runs a finished period."""
    assert plan(Cadence.DAY, OFFSET, T0 + DAY, T0 + OFFSET + 5) == Plan()


def test_a_ten_year_gap_of_a_minute_job_is_one_gap() -> None:
    now = T0 + 3_652 * DAY + 30
    decided = plan(Cadence.MINUTE, 0, T0, now)
    assert decided.run == (period_start(Cadence.MINUTE, now),)
    assert decided.missed is not None
    assert decided.missed[2] == (period_start(Cadence.MINUTE, now) - T0) // 60 - 1


@given(
    every=st.sampled_from(list(Cadence)),
    offset_fraction=st.floats(0, 0.999),
    horizon=st.integers(T0, T0 + 400 * DAY),
    gap=st.integers(0, 200 * DAY),
    policy=st.sampled_from(list(CatchUp)),
)
def test_runs_and_missed_cover_every_due_period_exactly_once(
    every: Cadence, offset_fraction: float, horizon: int, gap: int, policy: CatchUp
) -> None:
    """SPEC.md 10.5: every period after the horizon up to the latest due one is either
    run or counted missed, once."""
    offset = int(offset_fraction * every.seconds)
    horizon = period_start(every, horizon)
    now = horizon + gap
    decided = plan(every, offset, horizon, now, policy, cap=5)
    due, expected = latest_due(every, offset, now), []
    start = next_period_start(every, horizon)
    while start <= due:
        expected.append(start)
        start = next_period_start(every, start)
    missed = decided.missed[2] if decided.missed else 0
    assert len(decided.run) + missed == len(expected)
    assert set(decided.run) <= set(expected)
    if expected and policy is not CatchUp.NONE:
        assert decided.run[-1] == expected[-1]
    assert next_slot(every, offset, now) > now


@pytest.mark.parametrize("every", list(Cadence), ids=str)
def test_latest_due_is_the_newest_period_whose_slot_passed(every: Cadence) -> None:
    offset = every.seconds // 2
    start = period_start(every, T0 + 40 * DAY)
    assert latest_due(every, offset, start + offset) == start
    assert latest_due(every, offset, start + offset - 1) == period_start(every, start - 1)
