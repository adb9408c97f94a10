"""What a job owes, decided the same way by every ledger backend (SPEC.md 10.5, 10.6).

Pure functions, no I/O: first sight, a job's schedule identity, the overlap decision and
whether a row may be claimed. The backends call them inside their transactions, on the
ledger's state of the job across every provider, so that no decision rests on one
process's memory.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from scheduled_spec.cadence import period_start
from scheduled_spec.models import Job
from scheduled_spec.provider.ledger import Kind, RunRecord, State
from scheduled_spec.schedule import placed_by_extension

UTC = timezone.utc
_TINY = timedelta(microseconds=1)
# Marks a horizon migrated from a schema 1 ledger, which did not say how the job was placed.
MIGRATED = "?"


def schedule_key(job: Job) -> str:
    """What a horizon is counted in: ``day`` (periods, on the slot) or ``day+runs`` (runs
    placed by an extension schedule, SPEC.md 10.17). A job whose key changes starts afresh."""
    every = job.every.value
    return f"{every}+runs" if placed_by_extension(job) else every


def ms_of(t: datetime) -> int:
    """Unix milliseconds of an aware instant (exact: no float rounding)."""
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def first_sight(job: Job, now: datetime, salt: str = "") -> int:
    """The horizon (ms) a job gets when a provider first sees it at `now` (SPEC.md 10.5.4).

    Nothing before the job's current period is owed; its current period (its newest run
    in it at or before `now`, for a job placed by an extension schedule) and every later
    one is. On its slot: the period before the current one counts as handled. Placed by an
    extension schedule: everything before that newest run, or up to `now` when there is
    none yet.
    """
    every = job.every
    if not placed_by_extension(job):
        current = period_start(every, int(now.timestamp()))
        return period_start(every, current - 1) * 1_000
    # Imported here: a project without extension schedules never loads their engines.
    from scheduled_spec.provider.extended import current_period_start  # noqa: PLC0415
    from scheduled_spec.run_count import last_run  # noqa: PLC0415

    due = last_run(job, current_period_start(job, now) - _TINY, now, salt=salt)
    return ms_of(now) if due is None else ms_of(due.at) - 1


def overlap_skips(overlap: str, running: int, queued: int, catching_up: bool) -> bool:
    """Whether runs coming due now are recorded skipped (SPEC.md 10.6.1, 9.7 `overlap`).

    `running`: attempts of the job running now, on any provider; `queued`: its runs owed
    and not running (pending or abandoned). buffer-one (the default) keeps one run waiting
    behind a running one and skips a further single run; a catch-up batch is queued
    whole. skip drops what comes due while a run of the job runs or waits. allow never
    skips. A run waiting only for room under max_parallel is no overlap: it is queued, not
    running.
    """
    if overlap == "allow":
        return False
    if overlap == "skip":
        return running + queued > 0
    return not catching_up and running > 0 and queued > 0


def claimable(row: RunRecord, now: float, expired: bool = True) -> bool:
    """A scheduled row any provider may claim: pending, abandoned, or (`expired`) running
    with its lease past."""
    if row.kind is not Kind.SCHEDULED:
        return False
    if row.state in (State.PENDING, State.ABANDONED):
        return True
    past = row.lease_until is not None and row.lease_until < now
    return expired and row.state is State.RUNNING and past
