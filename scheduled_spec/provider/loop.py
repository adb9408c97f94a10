"""The `Provider`: what is due, claiming, overlap, retries, leases and shutdown.

One thread (the caller's) owns the ledger and all decisions; runner threads only report
that an attempt ended, which wakes the loop. Decisions use the injected `Clock` (the UTC
wall clock); durations (backoff, heartbeats, timeouts) use a monotonic clock.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from scheduled_spec.cadence import PERIOD_SECONDS, next_period_start, period_key
from scheduled_spec.clock import Clock
from scheduled_spec.errors import ScheduledError
from scheduled_spec.models import Project
from scheduled_spec.provider import events
from scheduled_spec.provider.clocks import wait
from scheduled_spec.provider.config import Outcome, ProviderConfig
from scheduled_spec.provider.due import DueQueue, JobState, pop_queued
from scheduled_spec.provider.events import emit, log
from scheduled_spec.provider.ledger import (
    Attempt,
    Claim,
    ClaimRequest,
    Gap,
    Kind,
    Ledger,
    Owner,
    RunRecord,
    State,
)
from scheduled_spec.provider.memory import release_free_memory
from scheduled_spec.provider.runner import RunContext, RunHandle, Runner, RunSpec

FAILPOINT = "SCHEDULED_FAILPOINT"
JUMP_TOLERANCE = 5.0


@dataclass(eq=False)
class _Active:
    state: JobState
    claim: Claim
    attempt: int  # number of the current (or next) attempt
    start_after: float = 0.0  # monotonic; the next attempt starts then
    handle: RunHandle | None = None
    started: float = 0.0  # monotonic start of the current attempt
    failures: int = 0
    staged: bool = False  # claimed ahead of its slot; starts at start_after


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class UnsupportedJobsError(ScheduledError):
    """The project has jobs whose extension keys this provider does not honour yet."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "the reference provider does not run extension schedules or per-job run policies"
            " yet (SPEC.md 9.1.4): " + "; ".join(problems)
        )


def unsupported_jobs(project: Project) -> list[str]:
    """One line per job using extension keys, which `Provider` refuses rather than ignores."""
    return [
        f"job {job.id!r} uses {', '.join(job.extension_keys)}"
        for job in project.jobs
        if job.extension_keys
    ]


class Provider:
    """Runs a project's jobs at least once per cadence, recording every run in a ledger.

    Raises UnsupportedJobsError for a project whose jobs use extension keys: running them on
    their hashed slot instead would silently break what their author wrote.
    """

    def __init__(
        self,
        project: Project,
        ledger: Ledger,
        runner: Runner,
        clock: Clock,
        config: ProviderConfig | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        problems = unsupported_jobs(project)
        if problems:
            raise UnsupportedJobsError(problems)
        self.config = config or ProviderConfig()
        self.ledger, self.runner, self.clock = ledger, runner, clock
        self.root: Path | None = project.root
        self.owner = Owner.current()
        self._mono = monotonic
        cfg = self.config
        self._due = DueQueue(project.jobs, salt=cfg.salt, policy=cfg.catch_up, cap=cfg.catch_up_cap)
        self._jobs = self._due.states
        self._active: dict[str, _Active] = {}  # run_id -> run held by this provider
        self._wake = threading.Event()
        self._stopping = False
        self._claiming = True
        self._loaded = False
        self._last: tuple[float, float] | None = None
        self._next_heartbeat = 0.0
        self._next_prune = 0.0
        self._next_scan = 0.0
        self._claim_due = True
        self._lead = 0  # seconds ahead of a slot to claim; `run` uses config.lead
        self._waiting: dict[str, None] = {}  # jobs with queued periods, in arrival order
        self.outcomes: list[Outcome] = []
        # The project was just parsed: return the parser's freed memory before running for
        # days (SPEC.md 10.16).
        release_free_memory()

    # -- public ----------------------------------------------------------------------------

    def load(self) -> None:
        """Read each job's newest recorded period from the ledger; decide every job next step."""
        self._due.load(self.ledger.latest(), int(self.clock.now().timestamp()))
        self._loaded = True

    @property
    def busy(self) -> bool:
        """True while some run is held (running or waiting to retry) or some period queued."""
        return bool(self._active or self._waiting)

    def stop(self) -> None:
        """Stop claiming at once and shut down (safe from signal handlers and threads)."""
        self._stopping = True
        self._wake.set()

    def run(self) -> None:
        """Run until `stop()`: wake at least every `wake` seconds; then shut down cleanly."""
        self._lead = max(0, int(self.config.lead))
        what = f"{len(self._jobs)} jobs, ledger {self.ledger.url}, owner {self.owner}"
        emit(logging.INFO, "provider-start", f"provider started: {what}")
        failures = 0
        while not self._stopping:
            try:
                self.step()
                failures = 0
                pause = self.next_wake()
            except Exception:  # noqa: BLE001 - a long-running provider outlives a bad moment
                failures += 1
                pause = min(self.config.wake, 2.0**failures)
                log.exception("provider step failed; retrying in %g s", pause)
            wait(self.clock, self._wake, pause)
            self._wake.clear()
        self.shutdown()

    def tick(self) -> list[Outcome]:
        """Run what is due now (with catch-up and takeovers), wait for it, return outcomes."""
        self.step()
        self._claim_due = False
        while self.busy and not self._stopping:
            wait(self.clock, self._wake, self.next_wake())
            self._wake.clear()
            self.step()
        if self._stopping:
            self.shutdown()
        return self.outcomes

    def due(self) -> list[tuple[str, str, str]]:
        """What `tick` would run now, without recording anything: (job, period, why)."""
        if not self._loaded:
            self.load()
        now = int(self.clock.now().timestamp())
        rows: list[tuple[str, str, str]] = []
        for record in self.ledger.unfinished():
            if record.job_id in self._jobs and self._takeable(record, now):
                rows.append((record.job_id, record.period_key, f"re-run ({record.state})"))
        return rows + self._due.preview(now)

    def next_wake(self) -> float:
        """Seconds until the loop has something to do (at most `wake`)."""
        now, mono = self.clock.now().timestamp(), self._mono()
        limits = [self.config.wake]
        upcoming = self._due.next_at()
        if upcoming is not None and self._claiming and self._claim_due:
            limits.append(upcoming - self._lead - now)
        for run in self._active.values():
            limits.append(self._next_heartbeat - mono)
            if run.handle is None:
                limits.append(run.start_after - mono)
            else:
                limits.append(run.started + self._timeout(run.state) + 0.01 - mono)
        return max(0.0, min(limits))

    def step(self) -> None:
        """One pass: reap ended attempts, renew leases, take over, claim what is due, start."""
        if not self._loaded:
            self.load()
        now_dt, mono = self.clock.now(), self._mono()
        now = int(now_dt.timestamp())
        self._notice_jump(now_dt.timestamp(), mono)
        self._reap()
        if mono >= self._next_heartbeat:
            self._heartbeat()
            self._next_heartbeat = mono + self.config.lease / 3
        if mono >= self._next_prune:
            removed = self.ledger.prune(self.config.retention_days)
            if removed:
                emit(
                    logging.INFO,
                    "prune",
                    f"pruned {removed} ledger rows older than {self.config.retention_days:g} days",
                    count=removed,
                )
            self._next_prune = mono + 86_400
        if not self._claiming or self._stopping:
            return
        if mono >= self._next_scan and self._claim_due:
            self._take_over(now)
            self._next_scan = mono + min(self.config.lease / 3, self.config.wake)
        if self._claim_due:
            self._collect_due(now)
        self._start(mono)

    def shutdown(self) -> None:
        """Stop claiming; give running attempts `shutdown_grace`, then stop them (abandoned)."""
        self._claiming = False
        deadline = time.monotonic() + self.config.shutdown_grace  # real waiting, not the clock
        for run in list(self._active.values()):
            if run.handle is None:
                now = self.clock.now().timestamp()
                self._end(
                    run,
                    Attempt(run.attempt, State.ABANDONED, now, 0.0, "not started before shutdown"),
                )
        while self._active and time.monotonic() < deadline:
            self._wake.wait(min(1.0, max(0.0, deadline - time.monotonic())))
            self._wake.clear()
            self._reap()
        for run in self._active.values():
            if run.handle is not None:
                run.handle.stop()
        # A child ignoring SIGTERM gets SIGKILL after kill_grace; an inline thread cannot be
        # stopped, so its run is recorded abandoned (its handle says so at once).
        while self._active:
            self._wake.wait(0.1)
            self._wake.clear()
            self._reap()
        self.runner.close()
        emit(logging.INFO, "provider-stop", "provider stopped")

    # -- due computation -------------------------------------------------------------------

    def _collect_due(self, now: int) -> None:
        for state, decided in self._due.pop_due(now, self._lead):
            job_id, every = state.job.id, state.job.every
            if decided.missed is not None:
                first, last, count = decided.missed
                gap = Gap(
                    job_id,
                    every.value,
                    period_key(every, first),
                    first,
                    period_key(every, last),
                    last,
                    count,
                )
                self.ledger.record_gap(gap)
                events.missed(gap)
            if state.queue and len(decided.run) == 1:
                skipped = self._request(state, decided.run[0])
                self.ledger.record_skipped(skipped)
                events.skipped(skipped)
            elif decided.run:
                if state.active is not None:
                    events.queued(self._request(state, decided.run[-1]))
                state.queue = [*(state.queue or ()), *decided.run]
                self._waiting[job_id] = None

    def _request(self, state: JobState, start: int) -> ClaimRequest:
        every = state.job.every
        return ClaimRequest(
            state.job.id, every.value, period_key(every, start), start, start + state.offset
        )

    # -- claiming and taking over ----------------------------------------------------------

    def _takeable(self, record: RunRecord, now: int) -> bool:
        if record.state is State.ABANDONED:
            return True
        expired = record.lease_until is not None and record.lease_until < now
        return expired or record.owner_proven_dead()

    def _take_over(self, now: int) -> None:
        for record in self.ledger.unfinished():
            state = self._jobs.get(record.job_id)
            if state is None or state.active is not None or record.run_id in self._active:
                continue
            if record.owner == str(self.owner) or not self._takeable(record, now):
                continue
            if record.state is State.ABANDONED or not record.owner_proven_dead():
                (result,) = self.ledger.claim(
                    [self._record_request(record)], self.owner, self.config.lease
                )
                claim = result if isinstance(result, Claim) else None
            else:
                claim = self.ledger.take_over(record, self.owner, self.config.lease)
            if claim is not None:
                events.taken_over(record, claim)
                self._hold(state, claim)

    @staticmethod
    def _record_request(record: RunRecord) -> ClaimRequest:
        return ClaimRequest(
            record.job_id,
            record.every,
            record.period_key,
            record.period_start,
            record.scheduled_at or record.period_start,
        )

    def _hold(self, state: JobState, claim: Claim) -> _Active:
        run = _Active(state, claim, claim.attempt + 1)
        state.active = self._active[claim.run_id] = run
        return run

    def _start(self, mono: float) -> None:
        # Staged runs (claimed ahead of their slot) already hold their share of max_parallel.
        room = self.config.max_parallel - sum(
            r.handle is not None or r.staged for r in self._active.values()
        )
        launches = []
        for run in list(self._active.values()):
            if run.handle is None and run.start_after <= mono and (run.staged or room > 0):
                room -= not run.staged
                run.staged = False
                launches.append(run)
        waiting = [self._jobs[j] for j in self._waiting]
        self._waiting.clear()
        ready = [s for s in waiting if s.queue and s.active is None]
        for state in waiting:
            if state.queue and state.active is not None:
                self._waiting[state.job.id] = None  # waits for its running period to end
        ready = self._claim(ready, room, mono, launches)
        for state in ready:
            self._waiting[state.job.id] = None
        # Launch everything first and log afterwards: a log line must not delay a start.
        started = [(run, self._launch(run)) for run in launches]
        for run, late in started:
            if late is not None:
                events.started(run.claim, run.attempt, late)

    def _claim(
        self, ready: list[JobState], room: int, mono: float, launches: list[_Active]
    ) -> list[JobState]:
        """Claim the next queued period of up to `room` jobs; return the jobs still waiting."""
        wall, mono = self.clock.now().timestamp(), self._mono()  # read together
        while room > 0 and ready:
            batch, ready = ready[:room], ready[room:]
            requests = [self._request(s, pop_queued(s)) for s in batch]
            results = self.ledger.claim(requests, self.owner, self.config.lease)
            for state, result in zip(batch, results, strict=True):
                if isinstance(result, RunRecord):
                    emit(
                        logging.DEBUG,
                        "held-elsewhere",
                        f"{result.job_id}: period {result.period_key} already {result.state}",
                        job=result.job_id,
                    )
                    continue
                if os.environ.get(FAILPOINT) == "after-claim":
                    os.kill(os.getpid(), signal.SIGKILL)
                run = self._hold(state, result)
                room -= 1
                ahead = result.scheduled_at - wall
                if ahead <= 0 or self.runner.waits:
                    launches.append(run)  # a runner that waits gets it now, to start at the slot
                else:  # claimed ahead (lead): start at the slot
                    run.staged, run.start_after = True, mono + ahead
            ready.extend(s for s in batch if s.queue and s.active is None)
        return ready

    def _timeout(self, state: JobState) -> float:
        return self.config.timeout or float(PERIOD_SECONDS[state.job.every])

    def _launch(self, run: _Active) -> float | None:
        """Start the run's next attempt; return how late it starts (None: it could not)."""
        claim, state = run.claim, run.state
        started_at = self.clock.now().timestamp()
        ahead = claim.scheduled_at - started_at if run.attempt == claim.attempt + 1 else 0
        not_before = 0.0
        if ahead > 0:  # handed to a runner that waits for the slot
            started_at, not_before = float(claim.scheduled_at), time.monotonic() + ahead
        context = RunContext(
            claim.job_id,
            claim.period_key,
            _utc(claim.scheduled_at),
            run.attempt,
            claim.run_id,
            claim.fence,
        )
        spec = RunSpec(
            state.job.entrypoint,
            context,
            self.root,
            self._timeout(state),
            self.config.kill_grace,
            started_at,
            not_before,
        )
        run.started = self._mono() + max(0.0, ahead)
        try:
            run.handle = self.runner.start(spec, self._wake.set)
        except OSError as exc:
            self._ended(
                run, Attempt(run.attempt, State.FAILED, started_at, 0.0, f"could not start: {exc}")
            )
            return None
        return max(0.0, started_at - claim.scheduled_at)

    # -- ending ----------------------------------------------------------------------------

    def _reap(self) -> None:
        for run in list(self._active.values()):
            result = run.handle.poll() if run.handle is not None else None
            if result is not None:
                self._ended(run, result)

    def _ended(self, run: _Active, result: Attempt) -> None:
        cfg, claim = self.config, run.claim
        events.ended(claim, result)
        if result.outcome is State.FAILED and not self._stopping:
            run.failures += 1
            delay = cfg.backoff * 2 ** (run.failures - 1)
            period_end = next_period_start(run.state.job.every, claim.period_start)
            inside = self.clock.now().timestamp() + delay < period_end
            if run.failures < cfg.attempts and (inside or claim.kind is Kind.MANUAL):
                if self.ledger.record_attempt(claim, result):
                    run.handle, run.attempt = None, run.attempt + 1
                    run.start_after = self._mono() + delay
                    return
                self._lost(run)
                return
        self._end(run, result)

    def _end(self, run: _Active, result: Attempt) -> None:
        if not self.ledger.finish(run.claim, result):
            self._lost(run)
            return
        self._drop(run)
        self.outcomes.append(
            Outcome(
                run.claim.job_id, run.claim.period_key, result.outcome, result.attempt, result.error
            )
        )

    def _drop(self, run: _Active) -> None:
        self._active.pop(run.claim.run_id, None)
        run.state.active = None
        if run.state.queue:
            self._waiting[run.state.job.id] = None
            self._wake.set()  # a buffered period of this job may start now

    def _lost(self, run: _Active) -> None:
        events.lost(run.claim)
        if run.handle is not None and run.handle.poll() is None:
            run.handle.stop()
        self._drop(run)

    def _heartbeat(self) -> None:
        claims = [r.claim for r in self._active.values()]
        for claim in self.ledger.heartbeat(claims, self.config.lease):
            run = self._active.get(claim.run_id)
            if run is not None:
                self._lost(run)

    def _notice_jump(self, wall: float, mono: float) -> None:
        if self._last is not None:
            drift = (wall - self._last[0]) - (mono - self._last[1])
            if abs(drift) > JUMP_TOLERANCE:
                events.jumped(drift)
        self._last = (wall, mono)
