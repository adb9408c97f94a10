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

from scheduled_spec.cadence import next_period_start, period_key
from scheduled_spec.models import Job
from scheduled_spec.provider.catchup import CatchUp, Plan, next_slot, plan
from scheduled_spec.provider.ledger import Latest
from scheduled_spec.slots import slot_offset


@dataclass(eq=False, slots=True)
class JobState:
    """What the provider knows about one job between wakes."""

    job: Job
    offset: int
    horizon: int | None = None  # newest period handled (run, queued or recorded)
    queue: list[int] | None = None  # period starts waiting to run (None: none, and no list)
    active: object | None = None  # the provider's run in progress, if any
    index: int = 0  # position in DueQueue.order


_INDEX_BITS = 24  # heap entries are ``slot << 24 | index``: one int each, not a tuple


def pop_queued(state: JobState) -> int:
    """The oldest queued period start of a job that has one."""
    if not state.queue:
        raise IndexError(f"{state.job.id}: no period queued")
    return state.queue.pop(0)


class DueQueue:
    """Every job of a project, ordered by its next slot (at most 16.7 million jobs)."""

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
            JobState(j, slot_offset(j.id, j.every, salt=salt), index=i) for i, j in enumerate(jobs)
        ]
        self.states = {s.job.id: s for s in self.order}
        self.policy, self.cap = policy, cap
        self._heap: list[int] = []

    def load(self, latest: Mapping[str, Latest], now: int) -> None:
        """Start from the ledger's newest period per job; every job is decided at `now`.

        A job whose newest row has another cadence (it changed between deploys) starts
        afresh: its new cadence applies from its current period.
        """
        for job_id, state in self.states.items():
            seen = latest.get(job_id)
            if seen is not None and seen.every == state.job.every.value:
                state.horizon = seen.period_start
        self._heap = [now << _INDEX_BITS | i for i in range(len(self.order))]  # sorted already

    def next_at(self) -> int | None:
        """The earliest instant (Unix seconds) at which some job may be due."""
        return self._heap[0] >> _INDEX_BITS if self._heap else None

    def _next_slot(self, state: JobState, now: int) -> int:
        every = state.job.every
        slot = next_slot(every, state.offset, now)
        if state.horizon is not None:  # after a backward jump: not before the next period
            slot = max(slot, next_period_start(every, state.horizon) + state.offset)
        return slot

    def pop_due(self, now: int, lead: int = 0) -> list[tuple[JobState, Plan]]:
        """Jobs due at `now`, or whose slot comes within `lead` seconds, each with its plan.

        A job whose slot is still ahead (inside the lead) is planned as of its slot, so that
        its run can be claimed early and started at the slot. Advances each job's horizon.
        """
        found = []
        limit = (now + lead + 1) << _INDEX_BITS
        while self._heap and self._heap[0] < limit:
            entry = heapq.heappop(self._heap)
            state = self.order[entry & ((1 << _INDEX_BITS) - 1)]
            at = max(now, entry >> _INDEX_BITS)
            decided = plan(state.job.every, state.offset, state.horizon, at, self.policy, self.cap)
            if decided.horizon is not None:
                state.horizon = decided.horizon
            heapq.heappush(self._heap, self._next_slot(state, at) << _INDEX_BITS | state.index)
            if decided.run or decided.missed:
                found.append((state, decided))
        return found

    def preview(self, now: int) -> list[tuple[str, str, str]]:
        """What `pop_due(now)` would ask to run, without changing anything: (job, period, why)."""
        rows = []
        for state in self.states.values():
            every = state.job.every
            runs = plan(every, state.offset, state.horizon, now, self.policy, self.cap).run
            for i, start in enumerate(runs):
                why = "due" if i == len(runs) - 1 else "catch-up"
                rows.append((state.job.id, period_key(every, start), why))
        return rows
