"""The runs a provider holds, and when to look at each (SPEC.md 10.6-10.7).

A held run is claimed and not yet ended: waiting to start (claimed ahead of its slot, or
waiting to retry, or taken over) or started. The loop must not scan every held run on every
wake: a provider holding five hundred sub-second ticks wakes a thousand times a second.
So `HeldRuns` keeps the waiting ones apart, learns of ended attempts from the runners'
callbacks, and keeps the started ones' timeout instants in a heap: each wake costs what
changed, not what is held.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from scheduled_spec.provider.due import JobState
from scheduled_spec.provider.ledger import Claim
from scheduled_spec.provider.runner import RunHandle


@dataclass(eq=False)
class HeldRun:
    """One run this provider holds, and where its current attempt stands."""

    state: JobState
    claim: Claim
    attempt: int  # number of the current (or next) attempt
    start_after: float = 0.0  # monotonic; the next attempt starts then
    handle: RunHandle | None = None
    started: float = 0.0  # monotonic start of the current attempt
    failures: int = 0
    staged: bool = False  # claimed ahead of its slot; starts at start_after
    renewed: float = 0.0  # monotonic; the lease runs at least `lease` from then
    renewed_wall: float = 0.0  # the same instant on the wall clock (a step forward ages it)
    fenced: bool = False  # its lease may be past: its child was told to stop


class HeldRuns:
    """Every held run by run ID; the waiting ones; ended attempts; timeout instants."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self.by_id: dict[str, HeldRun] = {}
        self.waiting: dict[str, HeldRun] = {}  # no attempt running: to start at start_after
        self._wake = wake
        self._ended: deque[HeldRun] = deque()  # appended from runner threads
        self._timeouts: list[tuple[float, int, HeldRun, RunHandle]] = []
        self._order = itertools.count()
        # No held run was renewed before this (monotonic, and wall clock): lets the
        # self-fencing check skip the scan of held runs while every lease is fresh.
        self.renewal_floor = self.renewal_floor_wall = float("inf")

    def __bool__(self) -> bool:
        return bool(self.by_id)

    def __iter__(self) -> Iterator[HeldRun]:
        return iter(list(self.by_id.values()))

    def get(self, run_id: str) -> HeldRun | None:
        """The held run with this ID, if any."""
        return self.by_id.get(run_id)

    def hold(self, state: JobState, claim: Claim, renewed: float, wall: float) -> HeldRun:
        """Hold a claimed run whose lease runs from `renewed` (monotonic; `wall` on the wall
        clock); it waits until started."""
        if not self.by_id:
            self.renewal_floor, self.renewal_floor_wall = renewed, wall
        self.renewal_floor = min(self.renewal_floor, renewed)
        self.renewal_floor_wall = min(self.renewal_floor_wall, wall)
        run = HeldRun(state, claim, claim.attempt + 1, renewed=renewed, renewed_wall=wall)
        state.active = self.by_id[claim.run_id] = self.waiting[claim.run_id] = run
        return run

    def refloor(self) -> None:
        """Recompute `renewal_floor` after renewals or fencing (O(held): once a heartbeat)."""
        fresh = [r for r in self.by_id.values() if not r.fenced]
        self.renewal_floor = min((r.renewed for r in fresh), default=float("inf"))
        self.renewal_floor_wall = min((r.renewed_wall for r in fresh), default=float("inf"))

    def occupied(self) -> int:
        """Runs that take a share of max_parallel: started, or staged to start at their slot."""
        waiting = self.waiting.values()
        return len(self.by_id) - len(self.waiting) + sum(r.staged for r in waiting)

    def started(self, run: HeldRun, handle: RunHandle, timeout_at: float) -> None:
        """The run's attempt started; look at it at `timeout_at` (monotonic) at the latest."""
        run.handle = handle
        self.waiting.pop(run.claim.run_id, None)
        heapq.heappush(self._timeouts, (timeout_at, next(self._order), run, handle))

    def wait(self, run: HeldRun, start_after: float) -> None:
        """The run's attempt ended and another will start at `start_after`."""
        run.handle, run.start_after = None, start_after
        self.waiting[run.claim.run_id] = run

    def notifier(self, run: HeldRun) -> Callable[[], None]:
        """The callback a runner calls when the run's attempt ends (from any thread)."""

        def ended() -> None:
            self._ended.append(run)
            self._wake()

        return ended

    def to_look_at(self, mono: float) -> list[HeldRun]:
        """Started runs whose attempt may have ended: told so, or past their timeout."""
        found: dict[int, HeldRun] = {}
        while self._ended:
            run = self._ended.popleft()
            found[id(run)] = run
        heap = self._timeouts
        while heap and heap[0][0] <= mono:
            _, _, run, handle = heapq.heappop(heap)
            if run.handle is handle:  # not an earlier attempt's
                found[id(run)] = run
        return [r for r in found.values() if r.handle is not None and r.claim.run_id in self.by_id]

    def look_again(self, run: HeldRun, at: float) -> None:
        """Look at a started run again at `at` (monotonic): it was stopped, or is being."""
        if run.handle is not None:
            heapq.heappush(self._timeouts, (at, next(self._order), run, run.handle))

    def next_look(self, mono: float, room: int) -> float | None:
        """The earliest monotonic instant at which a held run needs the loop.

        A run ready to start waits for room when there is none: the end of a started run
        wakes the loop then, so it sets no instant (it would make the loop spin).
        """
        times = [
            r.start_after
            for r in self.waiting.values()
            if r.staged or room > 0 or r.start_after > mono
        ]
        heap = self._timeouts
        while heap and (heap[0][2].handle is not heap[0][3]):  # stale: drop as we go
            heapq.heappop(heap)
        if heap:
            times.append(heap[0][0])
        return min(times) if times else None

    def drop(self, run: HeldRun) -> None:
        """Forget a run; its job's newest held run, if any, becomes its active one."""
        run_id = run.claim.run_id
        self.by_id.pop(run_id, None)
        self.waiting.pop(run_id, None)
        run.handle = None  # its timeout entry is stale now
        state = run.state
        if state.active is run:
            state.active = None
            if state.job.overlap == "allow":  # another run of the job may go on
                state.active = next((r for r in self.by_id.values() if r.state is state), None)
