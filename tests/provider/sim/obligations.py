"""What a job version is owed, by the model's reckoning (SPEC.md 10.5, 10.17.2, 10.17.7).

A version's obligations start at its first sight: the first time any provider loaded a
project holding it. A step of a provider "attends" a run when the run is the newest due at
the step's wall clock and no earlier step saw it due: that step had to run it, queue it or
skip it by policy, never count it missed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tests.provider.sim.actors import SimAttempt
from tests.provider.sim.scenario import JobSpec
from tests.provider.sim.schedules import Schedule

INF = float("inf")


def iso(ms: int) -> str:
    """Unix milliseconds as an RFC 3339 instant (UTC, without the zone) for messages."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1_000)) + f".{ms % 1_000:03d}"


def what(schedule: Schedule) -> str:
    """A schedule in a few words, for the trace."""
    if schedule.interval is not None:
        return f"every {schedule.every}, interval {schedule.interval}"
    if schedule.cron is not None:
        return f"every {schedule.every}, cron {schedule.cron!r}"
    return f"every {schedule.every}"


def owed_from(schedule: Schedule, ms: int, *, fresh: bool, horizon: int) -> int:
    """The first run owed by a version first seen at wall clock `ms`.

    A core job owes its current period (run at once if its slot passed, 10.5.4); a job
    placed by an extension schedule, never seen, the newest run at or before `ms` inside its
    current period of `every`, and what follows (10.17.2); a new schedule of a job seen before
    applies after the job's horizon (10.17.7), at most `horizon`, the newest wall clock a
    step of a provider knowing it began at.
    """
    if schedule.core:
        return schedule.first_at_or_after(schedule.every_start(ms))
    if fresh:
        last = schedule.last_at_or_before(ms)
        return last if last >= schedule.every_start(ms) else schedule.after(ms)
    return schedule.after(max(ms, horizon))


@dataclass
class Track:
    """One job version (job ID and schedule) since its first sight."""

    job: JobSpec
    schedule: Schedule
    first_wall: int  # ms, the wall clock of the provider that first loaded it
    owed_from: int  # ms: runs from here on are owed
    retire: float = INF  # simulated time when a newer project version dropped it
    version: int = 0  # the project version of the provider that first loaded it
    cursor: int | None = None  # next run to verify for I1
    covered: list[tuple[float, float]] = field(default_factory=list)
    since: float | None = None  # a provider covers it since then
    tick_wall: int = -1  # ms: the newest start of a `tick` that knew it and completed
    attends: list[tuple[int, str]] = field(default_factory=list)  # (run ms, by whom)
    done: int | None = None  # runs before this one are final (the quiet stretch's cursor)
    started: list[tuple[int, int, SimAttempt]] = field(default_factory=list)  # by row start
    runs: list[tuple[float, int]] = field(default_factory=list)  # (when, which run) started

    def coverage(self, start: float, end: float) -> float:
        """Seconds of [start, end] during which a daemon knowing this version ran."""
        spans = [*self.covered, (self.since, end)] if self.since is not None else self.covered
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)

    def attended_run(self, wall: int, before: int, kind: str, previous: int | None) -> int | None:
        """The run a step at `wall` had to handle (the newest due), if it was the first step
        (of any provider knowing the job) to see it due: `before`, the newest wall clock of
        an earlier step, is before the run. `kind` and `previous` (the provider's previous
        step) matter for catch-up "none"."""
        schedule = self.schedule
        run = schedule.last_at_or_before(wall)
        if run < self.owed_from or before >= run:
            return None
        if self.job.policy() == "none" and (
            kind != "continuous"
            or previous is None
            or not schedule.last_at_or_before(run - 1) <= previous < run
        ):
            # `none` misses a run that a provider was not running for, and the due run too
            # once any run before it was missed (SPEC.md 10.5.3): only a provider whose
            # previous step handled the previous run must run this one.
            return None
        return run
