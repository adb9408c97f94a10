"""Which jobs are due when: each job's next slot in a heap (pure; no ledger, no clock).

At an instant `now`, `DueQueue.pop_due` hands back each job whose slot has come, with the
`Plan` the catch-up arithmetic made for it, and reschedules the job at its next slot.
Looking at the heap's top costs O(1), so a provider holding 100,000 jobs sleeps until the
next slot instead of scanning them all.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

from scheduled_spec.cadence import next_period_start, period_key
from scheduled_spec.models import Job
from scheduled_spec.provider.catchup import CatchUp, Plan, next_slot, plan
from scheduled_spec.provider.ledger import Horizon
from scheduled_spec.provider.obligations import ms_of, schedule_key
from scheduled_spec.schedule import Run, placed_by_extension
from scheduled_spec.slots import slot_offset

if TYPE_CHECKING:
    from scheduled_spec.provider.extended import RunPlan

UTC = timezone.utc


class Due(NamedTuple):
    """One run to claim: its period key, the ledger's `period_start`, and its instant."""

    key: str
    start: int  # whole Unix seconds: the period's start, or an extension run's instant
    at: float  # Unix seconds, fractional for sub-second ticks


class Decision(NamedTuple):
    """What one job should do now: runs to claim (oldest first) and one gap, if any."""

    run: tuple[Due, ...]
    missed: tuple[Due, Due, int] | None


@dataclass(eq=False, slots=True)
class JobState:
    """What the provider knows about one job between wakes."""

    job: Job
    offset: int
    schedule: str = ""  # `schedule_key(job)`: what its horizon counts
    since: int = 0  # its horizon as the ledger has it (ms): what `Ledger.advance` moves
    horizon: int | None = None  # newest period start handled (run, queued or recorded)
    queue: list[Due] | None = None  # runs waiting to be claimed (None: none, and no list)
    active: object | None = None  # the provider's newest run in progress, if any
    index: int = 0  # position in DueQueue.order
    # Jobs placed by an extension schedule (SPEC.md 10.17) count runs instead:
    extended: bool = False
    newest: datetime | None = None  # the newest run handled
    pending: Run | None = None  # the run the heap holds for this job
    covered: bool = False  # `pending` is the first run after `newest`
    # Another version of the project decides this job now (its schedule differs in the
    # ledger): this provider records nothing new for it, and still runs its queued runs.
    left: bool = False


_INDEX_BITS = 24  # heap entries are ``milliseconds << 24 | index``: one int each


def may_claim(state: JobState) -> bool:
    """Whether a queued run of the job may be claimed now (SPEC.md 10.6, 9.7 `overlap`)."""
    return state.active is None or state.job.overlap == "allow"


def pop_queued(state: JobState) -> Due:
    """The oldest queued run of a job that has one."""
    if not state.queue:
        raise IndexError(f"{state.job.id}: no period queued")
    return state.queue.pop(0)


def _due_of(run: Run) -> Due:
    at = run.at.timestamp()
    return Due(run.period, int(at // 1), at)


class DueQueue:
    """Every job of a project, ordered by its next run (at most 16.7 million jobs)."""

    def __init__(
        self,
        jobs: Iterable[Job],
        *,
        salt: str = "",
        policy: CatchUp = CatchUp.LATEST,
        cap: int = 100,
    ) -> None:
        # slot_offset, not Job.offset: that caches per job, and 100,000 jobs are held here.
        self.order = [
            JobState(
                j,
                slot_offset(j.id, j.every, salt=salt),
                schedule_key(j),
                index=i,
                extended=placed_by_extension(j),
            )
            for i, j in enumerate(jobs)
        ]
        self.states = {s.job.id: s for s in self.order}
        self.policy, self.cap, self.salt = policy, cap, salt
        self._heap: list[int] = []
        self._again: dict[int, JobState] = {}  # rewound: to decide at the next `pop_due`

    def policy_of(self, state: JobState) -> CatchUp:
        """The job's own `catch-up` key, else the provider's policy."""
        own = state.job.catch_up
        return self.policy if own is None else CatchUp(own)

    def load(self, horizons: Mapping[str, Horizon], now: int) -> None:
        """Start from each job's durable horizon (`Ledger.see` gave every job one); every
        job is decided at `now`."""
        for job_id, state in self.states.items():
            found = horizons.get(job_id)
            if found is not None and found.schedule == state.schedule:
                self._set(state, found.ms)
        self._heap = [now * 1_000 << _INDEX_BITS | i for i in range(len(self.order))]

    @staticmethod
    def _set(state: JobState, ms: int) -> None:
        state.since = ms
        if state.extended:
            state.newest = datetime.fromtimestamp(ms / 1_000, UTC)
            state.pending, state.covered = None, False
        else:
            state.horizon = ms // 1_000

    @staticmethod
    def horizon_ms(state: JobState) -> int:
        """The job's horizon in memory, in the ledger's unit (see `Horizon`)."""
        if state.extended:
            return state.since if state.newest is None else ms_of(state.newest)
        return state.since if state.horizon is None else state.horizon * 1_000

    def rewind(self, state: JobState, ms: int, now: float) -> None:
        """Plan the job again from horizon `ms` (the ledger's, when another provider moved
        it first, or the one it had when recording failed), at `now`."""
        self._set(state, ms)
        self._again[state.index] = state  # its heap entry stays: its next slot is unchanged

    def next_at(self) -> float | None:
        """The earliest instant (Unix seconds) at which some job may be due."""
        return (self._heap[0] >> _INDEX_BITS) / 1_000 if self._heap else None

    def _next_slot(self, state: JobState, now: int) -> int:
        every = state.job.every
        slot = next_slot(every, state.offset, now)
        if state.horizon is not None:  # after a backward jump: not before the next period
            slot = max(slot, next_period_start(every, state.horizon) + state.offset)
        return slot

    def pop_due(self, now: float, lead: float = 0) -> list[tuple[JobState, Decision]]:
        """Jobs due at `now`, or whose run comes within `lead` seconds, each with its plan.

        A job whose run is still ahead (inside the lead) is planned as of its run, so that
        the run can be claimed early and started on time. Each job is handed back at most
        once per call. Advances each job's horizon.
        """
        found = []
        for state in self._again.values():
            decided, _ = self._decide(state, now, now)
            if decided.run or decided.missed:
                found.append((state, decided))
        handed = set(self._again)
        self._again.clear()
        later = []
        limit = (int((now + lead) * 1_000) + 1) << _INDEX_BITS
        while self._heap and self._heap[0] < limit:
            entry = heapq.heappop(self._heap)
            state = self.order[entry & ((1 << _INDEX_BITS) - 1)]
            if state.left:  # dropped from the heap
                continue
            if state.index in handed:  # decided above: its slot is looked at next call
                later.append(entry)
                continue
            decided, next_ms = self._decide(state, now, (entry >> _INDEX_BITS) / 1_000)
            later.append(next_ms << _INDEX_BITS | state.index)
            if decided.run or decided.missed:
                found.append((state, decided))
        for entry in later:
            heapq.heappush(self._heap, entry)
        return found

    def _decide(self, state: JobState, now: float, slot: float) -> tuple[Decision, int]:
        """Plan one job as of its slot (or `now`, once the slot passed); its next slot (ms)."""
        if state.extended:
            return self._pop_extended(state, max(now, slot))
        at = max(int(now), int(slot))
        portable = self._plan(state, at)
        return self._decision(state, portable), self._next_slot(state, at) * 1_000

    def _plan(self, state: JobState, at: int) -> Plan:
        decided = plan(
            state.job.every, state.offset, state.horizon, at, self.policy_of(state), self.cap
        )
        if decided.horizon is not None:
            state.horizon = decided.horizon
        return decided

    def _decision(self, state: JobState, decided: Plan) -> Decision:
        every, offset = state.job.every, state.offset

        def due(start: int) -> Due:
            return Due(period_key(every, start), start, float(start + offset))

        missed = None
        if decided.missed is not None:
            first, last, count = decided.missed
            missed = (due(first), due(last), count)
        return Decision(tuple(due(s) for s in decided.run), missed)

    def _pop_extended(self, state: JobState, at: float) -> tuple[Decision, int]:
        """Plan an extension job as of `at`; return the decision and its next run (ms)."""
        # Imported here: a project without extension schedules never loads their engines.
        from scheduled_spec.provider.extended import plan_runs, step_runs  # noqa: PLC0415
        from scheduled_spec.run_count import run_after  # noqa: PLC0415

        as_of = datetime.fromtimestamp(at, UTC)
        stepped = None
        if state.covered and state.pending is not None:
            stepped = step_runs(state.job, state.pending, state.newest, as_of, self.salt)
        if stepped is not None:
            decided, nxt = stepped
        else:
            decided = plan_runs(
                state.job, state.newest, as_of, self.policy_of(state), self.cap, self.salt
            )
            nxt = run_after(state.job, as_of, self.salt)
        if decided.horizon is not None:
            state.newest = decided.horizon
        state.pending = nxt
        state.covered = decided.horizon is not None
        if state.newest is not None and nxt is not None and nxt.at <= state.newest:
            # After a backward jump: nothing is due before the run after the newest handled.
            nxt = run_after(state.job, state.newest, self.salt)
            state.pending, state.covered = nxt, nxt is not None
        return self._run_decision(decided), _NEVER if nxt is None else ms_of(nxt.at)

    @staticmethod
    def _run_decision(decided: RunPlan) -> Decision:
        missed = None
        if decided.missed is not None:
            first, last, count = decided.missed
            missed = (_due_of(first), _due_of(last), count)
        return Decision(tuple(_due_of(r) for r in decided.run), missed)

    def retry_deadline(self, state: JobState, due: Due) -> float:
        """A retry of `due` must start before this instant: its period's end, or the
        job's next run for a job placed by an extension schedule."""
        if not state.extended:
            return float(next_period_start(state.job.every, due.start))
        from scheduled_spec.run_count import run_after  # noqa: PLC0415

        nxt = run_after(state.job, datetime.fromtimestamp(due.at, UTC), self.salt)
        return float("inf") if nxt is None else nxt.at.timestamp()

    def preview(self, now: int) -> list[tuple[str, str, str]]:
        """What `pop_due(now)` would ask to run, without changing anything: (job, period, why)."""
        rows = []
        for state in self.states.values():
            if state.extended:
                from scheduled_spec.provider.extended import plan_runs  # noqa: PLC0415

                as_of = datetime.fromtimestamp(now, UTC)
                runs = self._run_decision(
                    plan_runs(
                        state.job, state.newest, as_of, self.policy_of(state), self.cap, self.salt
                    )
                ).run
            else:
                every = state.job.every
                starts = plan(
                    every, state.offset, state.horizon, now, self.policy_of(state), self.cap
                ).run
                runs = self._decision(state, Plan(run=starts)).run
            for i, due in enumerate(runs):
                why = "due" if i == len(runs) - 1 else "catch-up"
                rows.append((state.job.id, due.key, why))
        return rows


_NEVER = 253_402_300_800_000  # 10000-01-01T00:00:00Z in ms: a job with no run left
