"""What is due for a job placed by an extension schedule (SPEC.md 10.17): pure arithmetic.

The counterpart of `catchup.plan` for jobs whose runs `at`, `timezone`, `cron` or
`interval` place. Their identity is the run (its key is the run's own period key: an
instant for `cron` and `interval`, a local period for `at` and a slot in a `timezone`),
so catch-up counts runs, not periods; `scheduled_spec.run_count` does it without
enumerating them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from scheduled_spec.local_periods import period_containing
from scheduled_spec.models import Job
from scheduled_spec.provider.catchup import CatchUp
from scheduled_spec.run_count import count_runs, last_run, run_after
from scheduled_spec.schedule import Run, period_of

UTC = timezone.utc
_TINY = timedelta(microseconds=1)


@dataclass(frozen=True)
class RunPlan:
    """What one extension job should do now (the `Plan` of SPEC.md 10.5, counted in runs).

    `run`: runs to claim, oldest first. `missed`: ``(first, last, count)`` of one gap of
    missed runs, or None. `horizon`: the newest run now handled, or None when nothing is.
    """

    run: tuple[Run, ...] = ()
    missed: tuple[Run, Run, int] | None = None
    horizon: datetime | None = None


def current_period_start(job: Job, now: datetime) -> datetime:
    """Start of the period of `every` holding `now`: local with a `timezone`."""
    if job.timezone is None:
        return period_of(job.every, now).start
    return period_containing(job.every, now, job.zone()).start


def plan_runs(
    job: Job,
    horizon: datetime | None,
    now: datetime,
    policy: CatchUp = CatchUp.LATEST,
    cap: int = 100,
    salt: str = "",
) -> RunPlan:
    """Decide what is due for one job at `now`, given the newest run already handled.

    As `catchup.plan`: `horizon` None means never seen (the newest run at or before `now`
    is due if it lies in the current period of `every`); otherwise the runs after
    `horizon` up to the newest at or before `now` are due, the newest run, and those
    before it are missed and handled per `policy`.
    """
    if horizon is None:
        due = last_run(job, current_period_start(job, now) - _TINY, now, salt=salt)
        return RunPlan() if due is None else RunPlan(run=(due,), horizon=due.at)
    due = last_run(job, horizon, now, salt=salt)
    if due is None:
        return RunPlan()
    first = run_after(job, horizon, salt)
    if first is None or first.at >= due.at:
        return RunPlan(run=(due,), horizon=due.at)
    count = count_runs(job, horizon, due.at, salt=salt)  # missed: strictly before `due`
    if policy is CatchUp.NONE:
        return RunPlan(missed=(first, due, count + 1), horizon=due.at)
    before = last_run(job, horizon, due.at - _TINY, salt=salt) or first
    if policy is CatchUp.LATEST or cap <= 0:
        return RunPlan(run=(due,), missed=(first, before, count), horizon=due.at)
    runs = [first]
    while len(runs) < min(count, cap):
        nxt = run_after(job, runs[-1].at, salt)
        if nxt is None:  # pragma: no cover - `due` lies ahead
            break
        runs.append(nxt)
    rest = count - len(runs)
    gap = None
    if rest > 0:
        after = run_after(job, runs[-1].at, salt)
        if after is not None:
            gap = (after, before, rest)
    return RunPlan(run=(*runs, due), missed=gap, horizon=due.at)


def step_runs(
    job: Job, pending: Run, horizon: datetime | None, now: datetime, salt: str
) -> tuple[RunPlan, Run | None] | None:
    """The steady-state shortcut: `pending` (the run after `horizon`) is the only one due.

    Returns the plan and the run after it, or None when the general `plan_runs` must
    decide (several runs passed, or the shortcut's premise does not hold).
    """
    if horizon is None or pending.at <= horizon or pending.at > now:
        return None
    after = run_after(job, pending.at, salt)
    if after is not None and after.at <= now:
        return None
    return RunPlan(run=(pending,), horizon=pending.at), after
