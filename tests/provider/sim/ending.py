"""The end of a scenario: when the quiet stretch may stop, and what must hold then.

After the last fault, with a provider of the last project version running, every run due
long enough ago must be final (I1), and every attempt that was stopped or killed must have
had its run end on its own, before or after (I5). `EndChecks` is the part of the model that
says so; `Model` keeps the state it reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.provider.sim.actors import KILLED, NATURAL, SimAttempt
from tests.provider.sim.ledger_view import FINAL, LedgerView, Row, gap_range
from tests.provider.sim.obligations import Track, iso
from tests.provider.sim.schedules import Schedule

if TYPE_CHECKING:
    from tests.provider.sim.world import World


class EndChecks:
    """The end-of-scenario half of the model (a mixin of `Model`)."""

    world: World
    ledger: LedgerView
    tracks: dict[Schedule, Track]
    log: dict[tuple[str, str], list[SimAttempt]]
    by_job: dict[str, list[SimAttempt]]

    if TYPE_CHECKING:  # what `Model` provides

        @property
        def rows(self) -> dict[tuple[str, str], Row]: ...

        def violate(self, code: str, text: str) -> None: ...

        def refresh(self, *, everything: bool = False) -> None: ...

        def check(self, now: float) -> None: ...

        def due_at(self, ms: int) -> float: ...

        def _gap_of(self, track: Track, run: int) -> Row | None: ...

        def _record(self, track: Track, run: int) -> Row | None: ...

    def unfinished(self) -> int:
        return self.ledger.unfinished()

    def _final_state(self, track: Track, run: int) -> Row | None:
        """The run's record if it is final (its state read afresh), else None."""
        gap = self._gap_of(track, run)
        if gap is not None:
            return gap
        key = (track.job.id, track.schedule.key(run))
        found = self.ledger.state(key)
        if found is None or found[0] not in FINAL or found[2] != track.schedule.every:
            return None
        return self.rows.get(key)

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
                    track.schedule.first_after_row(gap_range(row)[1])
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
                        f"{track.job.id} run {schedule.key(run)} ({iso(run)}) has {state} at the"
                        f" end, {now - due:.0f} s after it came due",
                    )
                run = (
                    schedule.first_after_row(gap_range(row)[1])
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
