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
import sqlite3
import time
from bisect import bisect_left, bisect_right, insort
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tests.provider.sim.actors import KILLED, NATURAL, SimAttempt
from tests.provider.sim.scenario import JobSpec
from tests.provider.sim.schedules import Schedule, parse_instant_key

if TYPE_CHECKING:
    from tests.provider.sim.actors import Actor
    from tests.provider.sim.world import World

FINAL = ("succeeded", "failed", "timed_out", "skipped", "missed")
MAX_REPORTED = 12
INF = float("inf")
JUMP_TOLERANCE = 5.0  # seconds: a step of the wall clock a provider notices (SPEC.md 10.3)


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its code, what broke, and when (index into the trace)."""

    code: str
    text: str
    at: float
    trace_index: int


class Row(NamedTuple):
    run_id: str
    job_id: str
    kind: str
    every: str
    period_key: str
    period_start: int
    last_key: str | None
    last_start: int | None
    state: str
    scheduled_at: float | None


@dataclass
class Track:
    """One job version (job ID and schedule) since its first sight."""

    job: JobSpec
    schedule: Schedule
    first_wall: int  # ms, the wall clock of the provider that first loaded it
    owed_from: int  # ms: runs from here on are owed
    retire: float = INF  # simulated time when a newer project version dropped it
    cursor: int | None = None  # next run to verify for I1
    covered: list[tuple[float, float]] = field(default_factory=list)
    since: float | None = None  # a provider covers it since then
    tick_wall: int = -1  # ms: the newest start of a `tick` that knew it and completed
    attends: list[tuple[int, str]] = field(default_factory=list)  # (run ms, by whom)
    done: int | None = None  # runs before this one are final (the quiet stretch's cursor)
    started: list[tuple[int, int, SimAttempt]] = field(default_factory=list)  # by row start
    runs: list[tuple[float, int]] = field(default_factory=list)  # (when, which run) started

    def coverage(self, start: float, end: float) -> float:
        spans = [*self.covered, (self.since, end)] if self.since is not None else self.covered
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1_000)) + f".{ms % 1_000:03d}"


class Model:
    """Checks the invariants after every step of the simulation."""

    def __init__(self, world: World, path: Path) -> None:
        self.world = world
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.columns: set[str] = set()
        self.violations: list[Violation] = []
        self.counts: dict[str, int] = defaultdict(int)
        self.fatal = False
        self.stop_at_first = False
        self.tracks: dict[Schedule, Track] = {}
        self.segments: list[tuple[float, float]] = [(world.T, 0.0)]  # (T, host clock offset)
        self.data_version: int | None = None
        self.rows: dict[tuple[str, str], Row] = {}
        self.gaps: dict[str, list[Row]] = defaultdict(list)
        self.seen: set[str] = set()
        self.suspects: set[tuple[str, str]] = set()  # runs whose last attempt was killed
        self.rowid = 0
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
        if self.db is not None:
            self.db.close()

    def violate(self, code: str, text: str) -> None:
        self.counts[code] += 1
        self.fatal = self.fatal or self.stop_at_first
        if len(self.violations) < MAX_REPORTED:
            world = self.world
            self.violations.append(Violation(code, text, world.T, len(world.trace)))
            world.note(f"VIOLATION {code}: {text.splitlines()[0]}")

    # -- time ------------------------------------------------------------------------------

    def jumped(self, now: float) -> None:
        self.segments.append((now, self.world.host_offset))

    def max_wall(self) -> float:
        """The newest instant the host's wall clock has shown so far."""
        now, reached = self.world.T, -INF
        for i, (_, offset) in enumerate(self.segments):
            end = self.segments[i + 1][0] if i + 1 < len(self.segments) else now
            reached = max(reached, end + offset)
        return reached

    def due_at(self, ms: int) -> float:
        """Since when (simulated time) the host's wall clock has been at or past `ms`, without
        going back before it since; INF while it is before `ms`. After a step back, a run the
        clock passed before is due again only once the clock passes it again (10.5.5)."""
        wall, now = ms / 1_000, self.world.T
        segments = self.segments
        for i in range(len(segments) - 1, -1, -1):
            start, offset = segments[i]
            end = segments[i + 1][0] if i + 1 < len(segments) else now
            if end + offset < wall:  # at this segment's end the clock was before `ms`
                return INF if i == len(segments) - 1 else segments[i + 1][0]
            if start + offset < wall:  # the clock reached `ms` inside this segment
                return wall - offset
        return segments[0][0]

    def disturbed(self, now: float, actor: Actor | None) -> None:
        self.disturbances.append((now, actor))

    # -- providers -------------------------------------------------------------------------

    def loaded(self, actor: Actor, ms: int) -> None:
        """First sight (at wall clock `ms`) of each job version the provider's project
        holds; retire the versions it does not."""
        mine = {j.schedule: j for j in actor.jobs.values()}
        for schedule, job in mine.items():
            if schedule in self.tracks:
                continue
            fresh = not any(
                s.job_id == schedule.job_id and s.every == schedule.every for s in self.tracks
            )
            if schedule.core:
                owed = schedule.first_at_or_after(schedule.every_start(ms))
            elif fresh:
                last = schedule.last_at_or_before(ms)
                owed = last if last >= schedule.every_start(ms) else schedule.after(ms)
            else:  # a new schedule of a seen job: it applies after the job's horizon (10.17.7)
                seen = self.max_step.get((schedule.job_id, schedule.every), -1)
                owed = schedule.after(max(ms, seen))
            self.tracks[schedule] = Track(job, schedule, ms, owed, cursor=owed)
            self.owners.clear()
            self.world.note(f"first sight of {job.id} ({_what(schedule)}): owed from {_iso(owed)}")
        for schedule, track in self.tracks.items():
            if schedule not in mine and track.retire == INF:
                track.retire = self.world.T
                self.world.note(f"{schedule.job_id} ({_what(schedule)}) retired")

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

    def _attended_run(
        self, track: Track, wall: int, before: int, kind: str, previous: int | None
    ) -> int | None:
        """The run a step at `wall` had to handle (the newest due), if it was the first step
        (of any provider knowing the job) to see it due: `before`, the newest wall clock of
        an earlier step, is before the run."""
        schedule = track.schedule
        run = schedule.last_at_or_before(wall)
        if run < track.owed_from or before >= run:
            return None
        if track.job.policy() == "none" and (
            kind != "continuous"
            or previous is None
            or not schedule.last_at_or_before(run - 1) <= previous < run
        ):
            # `none` misses a run that a provider was not running for, and the due run too
            # once any run before it was missed (SPEC.md 10.5.3): only a provider whose
            # previous step handled the previous run must run this one.
            return None
        return run

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
            run = self._attended_run(track, ms, seen, kind, prev)
            if run is None:
                continue
            insort(track.attends, (run, f"{actor} at {_iso(ms)}"))
            gap = self._gap_of(track, run)
            if gap is not None:
                self._missed_attended(track, run, f"{actor} at {_iso(ms)}", gap)

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
            run = self._attended_run(track, wall, before[job.schedule], "tick", None)
            if run is None:
                continue
            row = self.rows.get((job.id, job.schedule.key(run)))
            if row is None or row.kind not in ("scheduled", "skipped"):
                found = "only a missed row" if self._gap_of(track, run) else "no row"
                self.violate(
                    "I6",
                    f"{job.id} run {job.schedule.key(run)} ({_iso(run)}) was the newest due at"
                    f" {actor}'s tick at {_iso(wall)}, which completed, yet it has"
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
            others = "; ".join(f"{a} (since {_iso(int(a.wall_start * 1000))})" for a in clashing)
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
            running.start < at <= new.start <= at + 2.0
            and new.actor.born >= at
            and offset - self.segments[i - 1][1] > JUMP_TOLERANCE
            for i, (at, offset) in enumerate(self.segments)
            if i > 0
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

    def _connect(self) -> sqlite3.Connection | None:
        if self.db is None and self.path.exists():
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60)
        return self.db

    def refresh(self, *, everything: bool = False) -> None:
        """Read what the ledger changed; check what is new (I1, I4, I5).

        New rows come by rowid; the states of rows whose last attempt was stopped or killed
        are looked up by key (I5). `everything` reads every row again (the final check).
        """
        if not (self.world.dirty or everything):
            return  # no provider called the ledger since the last look
        db = self._connect()
        if db is None:
            return
        self.world.dirty = False
        version = db.execute("PRAGMA data_version").fetchone()[0]
        if version == self.data_version and not everything:
            return
        self.data_version = version
        if not self.columns:
            self.columns = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
            if not self.columns:
                self.data_version = None  # no schema yet
                return
        last_start = "last_period_start" if "last_period_start" in self.columns else "NULL"
        query = (
            "SELECT rowid, run_id, job_id, kind, every, period_key, period_start,"  # noqa: S608
            f" last_period_key, {last_start}, state, scheduled_at FROM runs"
            " WHERE kind != 'manual' AND rowid > ? ORDER BY rowid"
        )
        if everything:
            self.rows, self.gaps, self.rowid = {}, defaultdict(list), 0
        fresh = []
        for rowid, *values in db.execute(query, (self.rowid,)):
            row = Row(*values)
            self.rowid = max(self.rowid, rowid)
            if row.kind == "missed":
                self.gaps[row.job_id].append(row)
            else:
                self.rows[(row.job_id, row.period_key)] = row
            if row.run_id not in self.seen:
                self.seen.add(row.run_id)
                fresh.append(row)
        for row in fresh:
            self._new_row(row)
        self._look_at_suspects(db)

    def _look_at_suspects(self, db: sqlite3.Connection) -> None:
        """I5: the rows of runs whose last attempt was stopped or killed, if failed."""
        for key in list(self.suspects):
            found = db.execute(
                "SELECT state, fence FROM runs"
                " WHERE job_id = ? AND period_key = ? AND kind = 'scheduled'",
                key,
            ).fetchone()
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

    def _gap_range(self, gap: Row) -> tuple[int, int]:
        last = gap.last_start
        if last is None:
            ms = parse_instant_key(gap.last_key or gap.period_key)
            last = gap.period_start if ms is None else ms // 1_000
        return gap.period_start, last

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
        low, high = self._gap_range(gap)
        if not low <= row.period_start <= high:
            return False
        ms = parse_instant_key(row.period_key)
        return any(ms is None or t.schedule.is_run(ms) for t in self._owners(gap))

    def _gap_of(self, track: Track, run: int) -> Row | None:
        start = track.schedule.row_start(run)
        for gap in self.gaps.get(track.schedule.job_id, ()):
            low, high = self._gap_range(gap)
            if low <= start <= high and track in self._owners(gap):
                return gap
        return None

    def _new_gap(self, track: Track, gap: Row) -> None:
        if track.retire < INF:
            return  # during a deploy, another version's provider may count its runs missed
        low, high = self._gap_range(gap)
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
            f"{track.job.id} run {track.schedule.key(run)} ({_iso(run)}) is recorded missed"
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
                        f"{track.job.id} run {track.schedule.key(run)} ({_iso(run)}) has no"
                        f" ledger record {now - due:.0f} s after it came due (providers watched"
                        f" it for {track.coverage(due, now):.0f} s of them)",
                    )
                track.cursor = (
                    track.schedule.first_after_row(self._gap_range(row)[1])
                    if row is not None and row.kind == "missed"
                    else track.schedule.after(run)
                )

    def unfinished(self) -> int:
        """How many rows are not final (running, abandoned, or another unfinished state)."""
        db = self._connect()
        if db is None:
            return 0
        marks = ", ".join("?" * len(FINAL))
        query = f"SELECT COUNT(*) FROM runs WHERE kind != 'manual' AND state NOT IN ({marks})"  # noqa: S608
        return int(db.execute(query, FINAL).fetchone()[0])

    def _final_state(self, track: Track, run: int) -> Row | None:
        """The run's record if it is final (its state read afresh), else None."""
        gap = self._gap_of(track, run)
        if gap is not None:
            return gap
        db = self._connect()
        if db is None:
            return None
        found = db.execute(
            "SELECT state, every FROM runs"
            " WHERE job_id = ? AND period_key = ? AND kind != 'manual'",
            (track.job.id, track.schedule.key(run)),
        ).fetchone()
        if found is None or found[0] not in FINAL or found[1] != track.schedule.every:
            return None
        return self.rows.get((track.job.id, track.schedule.key(run)))

    def settled(self, now: float, tail: float) -> bool:
        """Whether every run due over `tail` seconds ago is final and every stopped attempt
        ran again: then the quiet stretch may end (a cursor per job keeps this cheap)."""
        self.refresh()
        limit = now - tail
        for job in self.world.scenario.versions[self.world.version]:
            track = self.tracks.get(job.schedule)
            if track is None:
                continue
            run = track.owed_from if track.done is None else track.done
            while self.due_at(run) <= limit:
                row = self._final_state(track, run)
                if row is None:
                    track.done = run
                    return False
                run = (
                    track.schedule.first_after_row(self._gap_range(row)[1])
                    if row.kind == "missed"
                    else track.schedule.after(run)
                )
            track.done = run
        final = {j.schedule for j in self.world.scenario.versions[self.world.version]}
        return not any(
            a.schedule in final and a.start < limit and not self._ran_again(a)
            for a in self.by_job_killed()
        )

    def by_job_killed(self) -> list[SimAttempt]:
        """Every attempt stopped or killed so far."""
        return [a for attempts in self.by_job.values() for a in attempts if a.reason in KILLED]

    def final(self, now: float, tail: float) -> None:
        """The end, after a quiet stretch: every run due over `tail` seconds ago is final
        (I1), and every stopped or killed attempt ran again (I5)."""
        self.refresh(everything=True)
        self.check(now)
        limit = now - tail
        final = {j.schedule for j in self.world.scenario.versions[self.world.version]}
        for schedule in final:
            track = self.tracks.get(schedule)
            if track is None:
                continue
            run: int | None = track.owed_from
            reported = 0
            while run is not None and reported < 3:
                due = self.due_at(run)
                if due > limit or due >= track.retire:
                    break
                row = self._record(track, run)
                if row is None or row.state not in FINAL:
                    reported += 1
                    state = "no record" if row is None else f"still {row.state}"
                    self.violate(
                        "I1",
                        f"{track.job.id} run {schedule.key(run)} ({_iso(run)}) has {state} at the"
                        f" end, {now - due:.0f} s after it came due",
                    )
                run = (
                    schedule.first_after_row(self._gap_range(row)[1])
                    if row is not None and row.kind == "missed"
                    else schedule.after(run)
                )
        for a in self.by_job_killed():
            if a.schedule in final and a.start < limit and not self._ran_again(a):
                self.violate("I5", f"{a} was {a.reason} and its run never ran to an end of its own")

    def _ran_again(self, attempt: SimAttempt) -> bool:
        """Whether the run of a stopped or killed attempt ran to an end of its own: an
        attempt of it succeeded, failed, timed out or could not start, before or after."""
        return any(b.reason in NATURAL for b in self.log[(attempt.job_id, attempt.period)])


def _what(schedule: Schedule) -> str:
    if schedule.interval is not None:
        return f"every {schedule.every}, interval {schedule.interval}"
    if schedule.cron is not None:
        return f"every {schedule.every}, cron {schedule.cron!r}"
    return f"every {schedule.every}"
