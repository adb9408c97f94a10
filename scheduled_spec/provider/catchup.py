"""What is due, and what was missed: pure arithmetic on Unix seconds (SPEC.md 10.5).

Missed periods are counted with `period_index`, never enumerated, so a ten-year gap of a
minute job costs the same as a one-period gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from scheduled_spec.cadence import Cadence, next_period_start, period_index, period_start


class CatchUp(str, Enum):
    """What to do about periods missed while no provider ran."""

    LATEST = "latest"  # run the most recent due period; record the others as one gap
    ALL = "all"  # run every missed period, oldest first, up to a cap; the rest are a gap
    NONE = "none"  # after downtime, record everything due as missed; run from the next slot

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Plan:
    """What one job should do now.

    `run`: period starts to run, oldest first. `missed`: ``(first start, last start,
    count)`` of one gap of missed periods, or None. `horizon`: the newest period now
    handled (run, queued or recorded), or None when nothing is due yet.
    """

    run: tuple[int, ...] = ()
    missed: tuple[int, int, int] | None = None
    horizon: int | None = None


def latest_due(every: Cadence, offset: int, now: int) -> int:
    """Start of the newest period whose slot (start + offset) is at or before `now`."""
    start = period_start(every, now)
    if start + offset > now:
        start = period_start(every, start - 1)
    return start


def next_slot(every: Cadence, offset: int, now: int) -> int:
    """The first slot instant strictly after `now`."""
    start = period_start(every, now)
    if start + offset <= now:
        start = next_period_start(every, start)
    return start + offset


def plan(  # noqa: PLR0911 - one return per case of the policy, in order
    every: Cadence,
    offset: int,
    horizon: int | None,
    now: int,
    policy: CatchUp = CatchUp.LATEST,
    cap: int = 100,
) -> Plan:
    """Decide what is due for one job at `now`, given the newest period already handled.

    `horizon` None means the job was never seen: its current period is due at its slot
    (late if the slot passed) and earlier periods are not missed. Otherwise periods after
    `horizon` up to the latest due one are due; those strictly between are "missed" and
    handled per `policy` (`cap` bounds how many `ALL` runs). A `horizon` at or after the
    latest due period (a backward clock jump) makes nothing due.
    """
    due = latest_due(every, offset, now)
    if horizon is None:
        if due != period_start(every, now):
            return Plan()
        return Plan(run=(due,), horizon=due)
    if due <= horizon:
        return Plan()
    first = next_period_start(every, horizon)
    count = period_index(every, due) - period_index(every, first)  # missed before `due`
    if count == 0:  # the period after the horizon: due now under every policy, even `none`
        return Plan(run=(due,), horizon=due)
    if policy is CatchUp.NONE:
        return Plan(missed=(first, due, count + 1), horizon=due)
    last_missed = period_start(every, due - 1)
    if policy is CatchUp.LATEST or cap <= 0:
        return Plan(run=(due,), missed=(first, last_missed, count), horizon=due)
    runs = [first]
    while len(runs) < min(count, cap):
        runs.append(next_period_start(every, runs[-1]))
    rest = count - len(runs)
    gap = None
    if rest > 0:
        gap = (next_period_start(every, runs[-1]), last_missed, rest)
    return Plan(run=(*runs, due), missed=gap, horizon=due)
