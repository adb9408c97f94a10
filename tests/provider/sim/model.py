"""The oracle: what must have happened, from the schedule arithmetic, the run log and the rows.

I1  no silent loss: every run of a job after its first sight ends in one recorded state; a
    run some provider attended (stepped while it was the newest due) is never missed.
I2  never two attempts of one job at once (overlap "allow" excepted), across providers.
I3  no period of a job completed twice unless a crash, pause or clock jump came between.
I4  a missed row never covers a run that started or is recorded.
I5  an attempt stopped or killed (shutdown, fencing, crash) is run again, never final failed.
I6  with a `scheduled tick` at least once between two runs, every run runs (policy allowing).

The run log (what the simulated children did) comes from the world, never from the ledger;
the ledger's rows are read with a separate connection.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right, insort
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.provider.sim.actors import KILLED, SimAttempt
from tests.provider.sim.ending import EndChecks
from tests.provider.sim.host_clock import HostClock
from tests.provider.sim.ledger_view import LedgerView, Row, gap_range
from tests.provider.sim.obligations import Track, iso, owed_from, what
from tests.provider.sim.scenario import JobSpec
from tests.provider.sim.schedules import Schedule, parse_instant_key

if TYPE_CHECKING:
    from tests.provider.sim.actors import Actor
    from tests.provider.sim.world import World

MAX_REPORTED = 12
INF = float("inf")


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its code, what broke, and when (index into the trace)."""

    code: str
    text: str
    at: float
    trace_index: int


class Model(EndChecks):
    """Checks the invariants after every step of the simulation."""

    def __init__(self, world: World, path: Path) -> None:
        self.world = world
        self.ledger = LedgerView(path)
        self.clock = HostClock(world.T)
        self.violations: list[Violation] = []
        self.counts: dict[str, int] = defaultdict(int)
        self.fatal = False
        self.stop_at_first = False
        self.tracks: dict[Schedule, Track] = {}
        self.suspects: set[tuple[str, str]] = set()  # runs whose last attempt was killed
        self.order = itertools.count()
        # (job ID, every): the newest wall clock (ms) a step of a provider knowing it began at
        self.max_step: dict[tuple[str, str], int] = {}
        self.owners: dict[str, list[Track]] = {}
        self.by_job: dict[str, list[SimAttempt]] = defaultdict(list)
        self.log: dict[tuple[str, str], list[SimAttempt]] = defaultdict(list)
        self.running: dict[str, list[SimAttempt]] = defaultdict(list)  # by job ID
        self.completed: dict[tuple[str, str], list[SimAttempt]] = defaultdict(list)
        self.disturbances: list[tuple[float, Actor | None]] = []

    def close(self) -> None:
        self.ledger.close()

    def violate(self, code: str, text: str) -> None:
        self.counts[code] += 1
        self.fatal = self.fatal or self.stop_at_first
        if len(self.violations) < MAX_REPORTED:
            world = self.world
            self.violations.append(Violation(code, text, world.T, len(world.trace)))
            world.note(f"VIOLATION {code}: {text.splitlines()[0]}")

    # -- time ------------------------------------------------------------------------------

    def jumped(self, now: float) -> None:
        self.clock.stepped(now, self.world.host_offset)

    def max_wall(self) -> float:
        return self.clock.max_wall(self.world.T)

    def due_at(self, ms: int) -> float:
        """Since when the run at `ms` has been due (INF: not now), see `HostClock.due_at`."""
        return self.clock.due_at(ms, self.world.T)

    def disturbed(self, now: float, actor: Actor | None) -> None:
        self.disturbances.append((now, actor))

    # -- providers -------------------------------------------------------------------------

    def loaded(self, actor: Actor, ms: int) -> None:
        """First sight (at wall clock `ms`) of each job version the provider's project
        holds; retire the older versions it does not."""
        mine = {j.schedule: j for j in actor.jobs.values()}
        for schedule, job in mine.items():
            if schedule in self.tracks:
                continue
            fresh = not any(
                s.job_id == schedule.job_id and s.every == schedule.every for s in self.tracks
            )
            seen = self.max_step.get((schedule.job_id, schedule.every), -1)
            owed = owed_from(schedule, ms, fresh=fresh, horizon=seen)
            track = Track(job, schedule, ms, owed, cursor=owed, version=actor.version)
            self.tracks[schedule] = track
            self.owners.clear()
            self.world.note(f"first sight of {job.id} ({what(schedule)}): owed from {iso(owed)}")
        for schedule, track in self.tracks.items():
            # A provider of an older version that loads late (it was paused while loading)
            # retires nothing newer: it only moves the job's horizon (see _outdated_step).
            if schedule not in mine and track.retire == INF and track.version < actor.version:
                track.retire = self.world.T
                self.world.note(f"{schedule.job_id} ({what(schedule)}) retired")

    def cover(self, now: float) -> None:
        """Which job versions some running daemon (loaded, not paused) watches now."""
        covered = {
            j.schedule
            for a in self.world.actors
            if a.mode == "run"
            and a.loaded
            and not (a.paused or a.killed or a.stopping)
            and a.state != "done"
            for j in a.jobs.values()
        }
        for schedule, track in self.tracks.items():
            if schedule in covered and track.since is None:
                track.since = now
            elif schedule not in covered and track.since is not None:
                track.covered.append((track.since, now))
                track.since = None

    def stepping(self, actor: Actor, ms: int) -> dict[Schedule, int]:
        """A step begins at wall clock `ms`: the newest wall clock seen before, per version."""
        before = {}
        max_step = self.max_step
        for job in actor.jobs.values():
            key = (job.id, job.every)  # a job's horizon outlives a change of its schedule
            seen = max_step.get(key, -1)
            track = self.tracks.get(job.schedule)
            if track is not None:
                before[job.schedule] = seen
                if track.retire < INF:
                    self._outdated_step(job, ms)
            if ms > seen:
                max_step[key] = ms
        return before

    def _outdated_step(self, job: JobSpec, ms: int) -> None:
        """A provider of an older project version steps during a deploy: it may move the
        job's horizon past the new schedule's runs up to `ms`, which the new version then
        does not owe (10.17.7: a new schedule applies from the job's horizon on)."""
        for schedule, track in self.tracks.items():
            if (
                schedule.job_id == job.id
                and schedule.every == job.every
                and track.retire == INF
                and track.owed_from <= ms
            ):
                track.owed_from = schedule.after(ms)
                if track.cursor is not None:
                    track.cursor = max(track.cursor, track.owed_from)

    def attended(
        self,
        actor: Actor,
        ms: int,
        kind: str,
        prev: int | None,
        before: dict[Schedule, int],
    ) -> None:
        """A step that began at wall clock `ms` finished: the runs it had to handle (the
        newest due of each job) are not missable."""
        for schedule, seen in before.items():
            track = self.tracks[schedule]
            if track.retire < INF:
                continue
            run = track.attended_run(ms, seen, kind, prev)
            if run is None:
                continue
            insort(track.attends, (run, f"{actor} at {iso(ms)}"))
            gap = self._gap_of(track, run)
            if gap is not None:
                self._missed_attended(track, run, f"{actor} at {iso(ms)}", gap)

    def ticked(self, actor: Actor, wall: int | None, before: dict[Schedule, int]) -> None:
        """A `tick` ended normally: I1 for what was due at its start, I6 for its newest run."""
        self.refresh()
        start = actor.start_wall
        for job in actor.jobs.values():
            track = self.tracks.get(job.schedule)
            if track is None:
                continue
            track.tick_wall = max(track.tick_wall, start)
            if wall is None or job.policy() == "none" or job.schedule not in before:
                continue
            run = track.attended_run(wall, before[job.schedule], "tick", None)
            if run is None:
                continue
            row = self.rows.get((job.id, job.schedule.key(run)))
            if row is None or row.kind not in ("scheduled", "skipped"):
                found = "only a missed row" if self._gap_of(track, run) else "no row"
                self.violate(
                    "I6",
                    f"{job.id} run {job.schedule.key(run)} ({iso(run)}) was the newest due at"
                    f" {actor}'s tick at {iso(wall)}, which completed, yet it has"
                    f" {found} (catch-up {job.policy()})",
                )

    # -- attempts --------------------------------------------------------------------------

    def started(self, attempt: SimAttempt) -> None:
        self.log[(attempt.job_id, attempt.period)].append(attempt)
        self.by_job[attempt.job_id].append(attempt)
        self.suspects.discard((attempt.job_id, attempt.period))
        ms = parse_instant_key(attempt.at)
        track = self._track_of(attempt, ms)
        attempt.schedule = None if track is None else track.schedule
        if attempt.reason == "not-started" or not attempt.ran:
            return
        live = [a for a in self.running[attempt.job_id] if a.end is None]
        clashing = [a for a in live if not self._stepped_in_between(a, attempt)]
        if clashing and attempt.job.overlap != "allow":
            others = "; ".join(f"{a} (since {iso(int(a.wall_start * 1000))})" for a in clashing)
            self.violate(
                "I2",
                f"{attempt.job_id}: {attempt} started while {others} still ran"
                f" (overlap {attempt.job.overlap or 'buffer-one'})",
            )
        self.running[attempt.job_id] = [*live, attempt]
        if ms is not None and track is not None:
            schedule = track.schedule
            insort(track.started, (schedule.row_start(ms), next(self.order), attempt))
            track.runs.append((attempt.start, ms))
        if ms is not None and track is not None and track.retire == INF:
            gap = self._gap_of(track, ms)
            if gap is not None:
                self.violate(
                    "I4",
                    f"{attempt} started though missed row {gap.period_key}..{gap.last_key}"
                    " covers its period",
                )

    def _track_of(self, attempt: SimAttempt, ms: int | None) -> Track | None:
        """The job version whose run the attempt runs: the one whose key its period has
        (a provider may take over a run of the job's previous cadence)."""
        mine = self.tracks.get(attempt.job.schedule)
        candidates = [mine] if mine is not None else []
        candidates += [t for s, t in self.tracks.items() if s.job_id == attempt.job_id]
        for track in candidates:
            if ms is not None and track.schedule.key(ms) == attempt.period:
                return track
        return None

    def _stepped_in_between(self, running: SimAttempt, new: SimAttempt) -> bool:
        """SPEC.md 10.4.6: a provider started after a forward step of the wall clock larger
        than a lease's remaining time may take the run over before its holder notices the
        step (about a second, until the old child looks at the wall clock): a crash."""
        return any(
            running.start < at <= new.start <= at + 2.0 and new.actor.born >= at
            for at in self.clock.forward_steps()
        )

    def ended(self, attempt: SimAttempt) -> None:
        key = (attempt.job_id, attempt.period)
        if attempt.reason in KILLED:
            self.suspects.add(key)
        if attempt.reason not in ("succeeded", "timed-out"):
            return
        for first in self.completed[key]:
            if not self._excused(first, attempt):
                self.violate(
                    "I3",
                    f"{attempt.job_id} period {attempt.period} completed twice without a crash,"
                    f" pause or clock jump between: {first} ({first.reason}) and {attempt}",
                )
        self.completed[key].append(attempt)

    def _excused(self, first: SimAttempt, second: SimAttempt) -> bool:
        """A crash or pause of either provider, or a step of the host's clock, while one of
        them may have held the claim (from a lease before the first started)."""
        since = min(first.start, second.start) - self.world.scenario.lease - 1
        until = max(first.start, second.start)
        return any(
            since <= at <= until and (who is None or who in (first.actor, second.actor))
            for at, who in self.disturbances
        )

    # -- the ledger ------------------------------------------------------------------------

    @property
    def rows(self) -> dict[tuple[str, str], Row]:
        return self.ledger.rows

    @property
    def gaps(self) -> dict[str, list[Row]]:
        return self.ledger.gaps

    def refresh(self, *, everything: bool = False) -> None:
        """Read what the ledger changed; check what is new (I1, I4, I5).

        New rows come by rowid; the states of rows whose last attempt was stopped or killed
        are looked up by key (I5). `everything` reads every row again (the final check).
        """
        if not (self.world.dirty or everything):
            return  # no provider called the ledger since the last look
        self.world.dirty = False
        fresh = self.ledger.read(everything=everything)
        if fresh is None:
            return
        for row in fresh:
            self._new_row(row)
        for key in list(self.suspects):  # I5: a run whose last attempt was stopped or killed
            found = self.ledger.state(key)
            if found is not None and found[0] == "failed":
                self.suspects.discard(key)
                self._failed(key, found[1])

    def _new_row(self, row: Row) -> None:
        if row.kind == "missed":
            for track in self._owners(row):
                self._new_gap(track, row)
        elif row.kind == "scheduled" and sum(s.job_id == row.job_id for s in self.tracks) == 1:
            # (with several versions of a job, which wrote the row is unknown: the run log
            # checks their attempts instead)
            for gap in self.gaps[row.job_id]:
                if self._gap_covers_row(gap, row):
                    self.violate(
                        "I4",
                        f"{row.job_id} {row.period_key} is recorded {row.state} and covered by"
                        f" missed row {gap.period_key}..{gap.last_key}",
                    )

    def _owners(self, gap: Row) -> list[Track]:
        """The job versions whose runs a gap row may count (cached until one is added)."""
        found = self.owners.get(gap.run_id)
        if found is None:
            found = self.owners[gap.run_id] = [
                t
                for s, t in self.tracks.items()
                if s.job_id == gap.job_id
                and s.every == gap.every
                and s.owns_gap(gap.period_key, gap.last_key or gap.period_key)
            ]
        return found

    def _gap_covers_row(self, gap: Row, row: Row) -> bool:
        if gap.every != row.every:
            return False
        low, high = gap_range(gap)
        if not low <= row.period_start <= high:
            return False
        ms = parse_instant_key(row.period_key)
        return any(ms is None or t.schedule.is_run(ms) for t in self._owners(gap))

    def _gap_of(self, track: Track, run: int) -> Row | None:
        start = track.schedule.row_start(run)
        for gap in self.gaps.get(track.schedule.job_id, ()):
            low, high = gap_range(gap)
            if low <= start <= high and track in self._owners(gap):
                return gap
        return None

    def _new_gap(self, track: Track, gap: Row) -> None:
        if track.retire < INF:
            return  # during a deploy, another version's provider may count its runs missed
        low, high = gap_range(gap)
        schedule = track.schedule
        starts = track.started
        for _, _, a in starts[bisect_left(starts, (low, -1)) : bisect_right(starts, (high, INF))]:
            self.violate(
                "I4", f"missed row {gap.period_key}..{gap.last_key} covers {a}, which started"
            )
            return
        for run, who in track.attends:
            if low <= schedule.row_start(run) <= high:
                self._missed_attended(track, run, who, gap)
                return

    def _missed_attended(self, track: Track, run: int, who: str, gap: Row) -> None:
        self.violate(
            "I1",
            f"{track.job.id} run {track.schedule.key(run)} ({iso(run)}) is recorded missed"
            f" (gap {gap.period_key}..{gap.last_key}) though {who} attended it: its step began"
            f" while it was the newest run due (catch-up {track.job.policy()})",
        )

    def _failed(self, key: tuple[str, str], fence: int) -> None:
        """A run whose attempt was stopped or killed is recorded failed: only a failure of
        the job's own (an attempt under the row's fence that failed, or could not start)
        may be why."""
        attempts = [a for a in self.log[key] if a.fence == fence]
        if not any(a.reason in ("failed", "not-started") for a in attempts):
            ends = ", ".join(f"{a} {a.reason}" for a in attempts) or "none under that fence"
            self.violate(
                "I5",
                f"{key[0]} {key[1]} is recorded failed (fence {fence}), but no attempt of it"
                f" failed on its own: {ends}",
            )

    # -- I1 --------------------------------------------------------------------------------

    def _record(self, track: Track, run: int) -> Row | None:
        row = self.rows.get((track.job.id, track.schedule.key(run)))
        if row is not None and row.every == track.schedule.every:
            return row
        return self._gap_of(track, run)

    def _overdue(self, track: Track, run: int, due: float, now: float) -> bool:
        """Whether a daemon had `run` in hand long enough that it must be recorded by now.

        A daemon may keep a run queued (behind a running one, or for room under
        max_parallel, or in a long catch-up) without a row: it is overdue after `grace`
        seconds with a daemon up, once a later run of the job started or no provider is busy.
        """
        covered = track.coverage(due, now)
        if covered < self.world.grace:
            return False
        if covered >= 4 * self.world.grace or not any(
            a.provider is not None and a.provider.busy for a in self.world.actors if a.loaded
        ):
            return True
        for start, ms in reversed(track.runs):
            if start <= due + 1:
                return False
            if ms > run:
                return True
        return False

    def check(self, now: float) -> None:
        """After each step: I1's lost runs (I2-I5 are checked as things happen)."""
        if self.fatal:
            return
        self.refresh()
        for track in self.tracks.values():
            while track.cursor is not None:
                run = track.cursor
                due = self.due_at(run)
                if due >= track.retire:
                    track.cursor = None
                    break
                if due > now or not (track.tick_wall >= run or self._overdue(track, run, due, now)):
                    break
                row = self._record(track, run)
                if row is None:
                    self.violate(
                        "I1",
                        f"{track.job.id} run {track.schedule.key(run)} ({iso(run)}) has no"
                        f" ledger record {now - due:.0f} s after it came due (providers watched"
                        f" it for {track.coverage(due, now):.0f} s of them)",
                    )
                track.cursor = (
                    track.schedule.first_after_row(gap_range(row)[1])
                    if row is not None and row.kind == "missed"
                    else track.schedule.after(run)
                )
