"""What a provider's jobs are owed (SPEC.md 10.5): first sight, runs come due, queues.

`Owed` keeps, for one provider, each job's horizon as the ledger has it and the runs the
ledger owes the job, queued in memory only as a copy: a run come due is written (pending)
by `Ledger.advance` before anything moves past it, and pending rows left by any provider
are queued again from the ledger. When another provider moved a job's horizon first, the
job is decided again from the ledger's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from scheduled_spec.clock import Clock
from scheduled_spec.models import Job
from scheduled_spec.provider import events
from scheduled_spec.provider.catchup import CatchUp
from scheduled_spec.provider.due import Due, DueQueue, JobState, may_claim
from scheduled_spec.provider.events import emit
from scheduled_spec.provider.ledger import (
    Advance,
    ClaimRequest,
    Gap,
    Horizon,
    Ledger,
    RunRecord,
    State,
)
from scheduled_spec.provider.obligations import MIGRATED, first_sight

BLOCKED_RETRY = 1.0  # seconds before claiming again a run whose job runs on another provider
RETRIES = 5  # passes of `collect` while other providers keep moving horizons first


class Owed:
    """The jobs of one provider, their durable horizons, and the runs queued for each."""

    def __init__(
        self,
        jobs: Iterable[Job],
        ledger: Ledger,
        clock: Clock,
        salt: str,
        policy: CatchUp,
        cap: int,
    ) -> None:
        self.due = DueQueue(jobs, salt=salt, policy=policy, cap=cap)
        self.jobs = self.due.states
        self.ledger, self.clock, self.salt = ledger, clock, salt
        self.waiting: dict[str, None] = {}  # jobs with queued runs, in arrival order
        # Jobs whose queued run waits for an attempt another provider runs: monotonic retry.
        self.blocked: dict[str, float] = {}

    def load(self, *, record: bool = True) -> None:
        """Read each job's horizon from the ledger, recording first sight of new jobs
        (`record` False: in memory only, for a dry run); queue the runs the ledger owes."""
        now = self.clock.now()
        horizons = self.ledger.horizons()
        first = {}
        for job_id, state in self.jobs.items():
            found = horizons.get(job_id)
            if found is not None and found.schedule == state.schedule:
                continue
            if found is not None and found.schedule == state.job.every.value + MIGRATED:
                # From a schema 1 ledger: its newest row's whole second, for runs placed by
                # an extension schedule, or its period.
                first[job_id] = Horizon(state.schedule, found.ms + 999 * state.extended)
            else:
                first[job_id] = Horizon(state.schedule, first_sight(state.job, now, self.salt))
        if first and not record:
            horizons.update(first)
        elif first:
            horizons.update(self.ledger.see(first))
            emit(
                logging.INFO,
                "first-sight",
                f"first sight of {len(first)} job(s) recorded: each owes its current period on",
                count=len(first),
            )
        self.due.load(horizons, int(now.timestamp()))
        self.adopt(self.ledger.unfinished())

    def adopt(self, records: list[RunRecord]) -> None:
        """Queue the pending runs of known jobs (left by any provider) not queued yet."""
        for record in records:
            state = self.jobs.get(record.job_id)
            if record.state is not State.PENDING or state is None:
                continue
            queue = state.queue or []
            if any(d.key == record.period_key for d in queue):
                continue
            at = record.period_start if record.scheduled_at is None else record.scheduled_at
            queue.append(Due(record.period_key, record.period_start, at))
            queue.sort(key=lambda d: d.at)
            state.queue = queue
            if record.job_id not in self.blocked:
                self.waiting[record.job_id] = None

    def collect(self, now: float, lead: float) -> None:
        """Record what came due by `now` (or comes within `lead` seconds) and queue it.

        A job whose horizon another provider moved first is decided again at once, from the
        ledger's: a `tick` collects only once, and must not leave it for a later pass.
        """
        for _ in range(RETRIES):
            if not self._collect(now, lead):
                return

    def _collect(self, now: float, lead: float) -> bool:
        """One pass of `collect`; True when some job must be decided again."""
        decided = self.due.pop_due(now, lead)
        if not decided:
            return False
        steps = []
        for state, due in decided:
            job = state.job
            gap = None
            if due.missed is not None:
                first, last, count = due.missed
                every = job.every.value
                gap = Gap(job.id, every, first.key, first.start, last.key, last.start, count)
            runs = tuple(self.request(state, d) for d in due.run)
            until = self.due.horizon_ms(state)
            overlap = job.overlap or "buffer-one"
            steps.append(Advance(job.id, state.schedule, state.since, until, runs, gap, overlap))
        try:
            results = self.ledger.advance(steps)
        except BaseException:
            for state, _ in decided:  # nothing of it is durable: decide again from the ledger's
                self.due.rewind(state, state.since, now)
            raise
        again = False
        for (state, _), step, result in zip(decided, steps, results, strict=True):
            if not result.applied:  # another provider moved the horizon first
                self._rewind(state, result.horizon, now)
                again = True
                continue
            state.since = step.until
            if step.gap is not None:
                events.missed(step.gap)
            for skipped in result.skipped:
                events.skipped(skipped)
            if result.queued:
                if not may_claim(state):
                    events.queued(result.queued[-1])
                self._queue(
                    state,
                    [Due(r.period_key, r.period_start, r.scheduled_at) for r in result.queued],
                )
        return again

    def _rewind(self, state: JobState, found: Horizon | None, now: float) -> None:
        if found is not None and found.schedule != state.schedule:
            # A provider of another version of the project (a rolling deploy that changed
            # the job's schedule) saw the job since this one did: the last to start decides
            # (SPEC.md 10.17.7). Taking it back would reset its horizon at every turn.
            state.left = True
            events.left_to_another_version(state.job.id, found.schedule, state.schedule)
            return
        if found is None:  # its record went: see it again
            found = Horizon(state.schedule, first_sight(state.job, self.clock.now(), self.salt))
            found = self.ledger.see({state.job.id: found})[state.job.id]
        self.due.rewind(state, found.ms, now)

    def _queue(self, state: JobState, runs: list[Due]) -> None:
        state.queue = [*(state.queue or ()), *runs]
        if state.job.id not in self.blocked:
            self.waiting[state.job.id] = None

    @staticmethod
    def request(state: JobState, due: Due) -> ClaimRequest:
        job = state.job
        exclusive = job.overlap != "allow"
        return ClaimRequest(job.id, job.every.value, due.key, due.start, due.at, exclusive)

    def block(self, state: JobState, request: ClaimRequest, mono: float) -> None:
        """Its job runs on another provider (SPEC.md 10.6.1): the run waits, and is claimed
        again after BLOCKED_RETRY."""
        due = Due(request.period_key, request.period_start, request.scheduled_at)
        state.queue = [due, *(state.queue or ())]
        self.blocked[state.job.id] = mono + BLOCKED_RETRY

    def ready(self, mono: float) -> list[JobState]:
        """Jobs with a queued run to claim now (blocked ones once their retry comes);
        those whose own run still runs here stay waiting."""
        for job_id, retry in list(self.blocked.items()):
            if retry <= mono:
                del self.blocked[job_id]
                self.waiting[job_id] = None
        waiting = [self.jobs[j] for j in self.waiting]
        self.waiting.clear()
        for state in waiting:
            if state.queue and not may_claim(state):
                self.waiting[state.job.id] = None  # waits for its running run to end
        return [s for s in waiting if s.queue and may_claim(s)]
