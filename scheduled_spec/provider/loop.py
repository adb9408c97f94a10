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
from pathlib import Path
from typing import NoReturn

from scheduled_spec.clock import Clock
from scheduled_spec.models import Project
from scheduled_spec.provider import events
from scheduled_spec.provider.clocks import wait
from scheduled_spec.provider.config import Outcome, ProviderConfig, attempts_of, timeout_of
from scheduled_spec.provider.due import Due, JobState, may_claim, pop_queued
from scheduled_spec.provider.events import emit, log
from scheduled_spec.provider.held import HeldRun, HeldRuns
from scheduled_spec.provider.leases import Leases
from scheduled_spec.provider.ledger import (
    Attempt,
    Claim,
    Kind,
    Ledger,
    LedgerError,
    LedgerReplacedError,
    RunRecord,
    State,
)
from scheduled_spec.provider.manual import manual_request
from scheduled_spec.provider.memory import release_free_memory
from scheduled_spec.provider.owed import Owed
from scheduled_spec.provider.owner import Owner
from scheduled_spec.provider.runner import RunContext, Runner, RunSpec
from scheduled_spec.provider.takeover import left_unfinished, take_over

FAILPOINT = "SCHEDULED_FAILPOINT"
JUMP_TOLERANCE = 5.0


class Provider:
    """Runs a project's jobs at least once per cadence, recording every run in a ledger.

    Jobs run on their slot, or where their extension schedule places them (SPEC.md 10.17),
    each with its own run policy keys over the provider-wide settings.
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
        self.config = config or ProviderConfig()
        self.ledger, self.runner, self.clock = ledger, runner, clock
        self.root: Path | None = project.root
        self.owner = Owner.current()
        self._mono = monotonic
        cfg = self.config
        self._owed = Owed(project.jobs, ledger, clock, cfg.salt, cfg.catch_up, cfg.catch_up_cap)
        self._due, self._jobs = self._owed.due, self._owed.jobs
        self._wake = threading.Event()
        self._held = HeldRuns(self._wake.set)  # the runs this provider holds
        self._leases = Leases(
            ledger, self.config, self._held, monotonic, self._wall, self._lost, self._drop
        )
        self._stopping = False
        self._claiming = True
        self._loaded = False
        self._last: tuple[float, float] | None = None
        self._next_prune = 0.0
        self._next_scan = 0.0
        self._leases_settle = 0.0  # monotonic: running rows are not taken over before this
        self._claim_due = True
        self._lead = 0.0  # seconds ahead of a slot to claim; `run` uses config.lead
        # A run may be claimed ahead by less than half the shortest interval, so that a
        # sub-second heartbeat never has its next tick claimed while one waits.
        shortest = min((j.interval for j in project.jobs if j.interval is not None), default=None)
        self._lead_cap = float("inf") if shortest is None else shortest / 2
        self._immediately: list[JobState] = []  # `run` fills it: jobs to run once at start
        self._waiting = self._owed.waiting  # jobs with queued runs, in arrival order
        self.outcomes: list[Outcome] = []
        # The project was just parsed: return the parser's freed memory before running for
        # days (SPEC.md 10.16).
        release_free_memory()

    # -- public ----------------------------------------------------------------------------

    def load(self, *, record: bool = True) -> None:
        """Read each job's horizon from the ledger, recording first sight of new jobs
        (`record` False: in memory only, for a dry run); queue the runs the ledger owes."""
        self._owed.load(record=record)
        self._loaded = True

    @property
    def busy(self) -> bool:
        """True while some run is held (running or waiting to retry) or some period queued."""
        return bool(self._held or self._waiting)

    def stop(self) -> None:
        """Stop claiming at once and shut down (safe from signal handlers and threads)."""
        self._stopping = True
        self._wake.set()

    def run(self) -> None:
        """Run until `stop()`: wake at least every `wake` seconds; then shut down cleanly.

        Raises LedgerReplacedError when the ledger's file was deleted or replaced.
        """
        self._lead = max(0.0, min(self.config.lead, self._lead_cap))
        self._immediately = [s for s in self._jobs.values() if s.job.immediately]
        what = f"{len(self._jobs)} jobs, ledger {self.ledger.url}, owner {self.owner}"
        emit(logging.INFO, "provider-start", f"provider started: {what}")
        failures = 0
        while not self._stopping:
            try:
                self.step()
                failures = 0
                pause = self.next_wake()
            except LedgerReplacedError as exc:
                self._replaced(exc)
            except LedgerError as exc:  # unreachable: claiming waits, leases are watched
                failures += 1
                self._leases.failed(exc)
                pause = min(self.config.wake, 2.0**failures, self._leases.wait())
            except Exception:  # noqa: BLE001 - a long-running provider outlives a bad moment
                failures += 1
                pause = min(self.config.wake, 2.0**failures, self._leases.wait())
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
            self.load(record=False)
            self._loaded = False  # a step after the dry run records first sight
        now = int(self.clock.now().timestamp())
        rows = [
            (r.job_id, r.period_key, f"re-run ({r.state})")
            for r in left_unfinished(self.ledger, self._jobs)
        ]
        rows += [(s.job.id, d.key, "queued") for s in self._jobs.values() for d in s.queue or ()]
        return rows + self._due.preview(now)

    def next_wake(self) -> float:
        """Seconds until the loop has something to do (at most `wake`)."""
        now, mono = self.clock.now().timestamp(), self._mono()
        limits = [self.config.wake, *self._leases.limits(mono)]
        if self._leases.failures:  # the ledger is down: only probing and fencing until it answers
            return max(0.0, min(limits))
        upcoming = self._due.next_at()
        if upcoming is not None and self._claiming and self._claim_due:
            limits.append(upcoming - self._lead - now)
        if self._owed.blocked and self._claiming:
            limits.append(min(self._owed.blocked.values()) - mono)
        if self._held:
            look = self._held.next_look(mono, self.config.max_parallel - self._held.occupied())
            if look is not None:
                limits.append(look - mono)
        return max(0.0, min(limits))

    def step(self) -> None:
        """One pass: reap ended attempts, renew leases, take over, claim what is due, start."""
        if not self._loaded:
            self.load()
        now_dt, mono = self.clock.now(), self._mono()
        now = now_dt.timestamp()
        self._notice_jump(now, mono)
        leases = self._leases
        leases.fence(mono, now)  # first: a provider resumed after a pause stops its jobs at once
        if leases.failures:
            if leases.due(mono):
                leases.heartbeat()  # the probe, with capped backoff
            if leases.failures:
                return  # record and claim nothing until the ledger answers again
        self._reap(mono)
        if leases.due(mono):
            leases.heartbeat()
        if leases.failures:
            return
        if mono >= self._next_prune:
            # Only this project's jobs: another replica's version may know others.
            cfg = self.config
            removed = self.ledger.prune(cfg.retention_days, self._jobs.keys(), cfg.retention_runs)
            events.pruned(removed, cfg.retention_days, cfg.retention_runs)
            self._next_prune = mono + 86_400
        if not self._claiming or self._stopping:
            return
        if mono >= self._next_scan and self._claim_due:
            self._take_over()
            self._next_scan = mono + min(self.config.lease / 3, self.config.wake)
        if self._claim_due:
            self._owed.collect(now, self._lead)
        if self._immediately:
            self._claim_immediately(int(now))
        self._start(mono)

    def shutdown(self) -> None:
        """Stop claiming; give running attempts `shutdown_grace`, then stop them (abandoned)."""
        self._claiming = False
        deadline = time.monotonic() + self.config.shutdown_grace  # real waiting, not the clock
        for run in list(self._held.waiting.values()):
            if run.handle is None:
                now = self.clock.now().timestamp()
                self._end(
                    run,
                    Attempt(run.attempt, State.ABANDONED, now, 0.0, "not started before shutdown"),
                )
        while self._held and time.monotonic() < deadline:
            self._wake.wait(min(1.0, max(0.0, deadline - time.monotonic())))
            self._wake.clear()
            self._reap(self._mono())
        for run in self._held:
            if run.handle is not None:
                run.handle.stop()
        # A child ignoring SIGTERM gets SIGKILL after kill_grace; an inline thread cannot be
        # stopped, so its run is recorded abandoned (its handle says so at once).
        while self._held:
            self._wake.wait(0.1)
            self._wake.clear()
            self._reap(self._mono(), every_run=True)
        self.runner.close()
        emit(logging.INFO, "provider-stop", "provider stopped")

    def _replaced(self, exc: LedgerReplacedError) -> NoReturn:
        """The ledger's file is gone (SPEC.md 10.13.4): claim nothing more, stop the running
        attempts (their ends cannot be recorded), forget every held run, and raise."""
        self._claiming, self._stopping = False, True
        held = list(self._held)
        events.ledger_replaced(exc, len(held))
        for run in held:
            if run.handle is not None:
                run.handle.stop("stopped: the ledger file was deleted or replaced")
        while any(r.handle is not None and r.handle.poll() is None for r in held):
            self._wake.wait(0.1)  # a child gets SIGKILL after kill_grace
            self._wake.clear()
        for run in held:
            self._held.drop(run)
        self._waiting.clear()
        self.runner.close()
        raise exc

    # -- claiming and taking over ----------------------------------------------------------

    def _claim_immediately(self, now: int) -> None:
        """`immediately = true` (SPEC.md 9.7): one manual run per job when `run` starts."""
        for state in self._immediately:
            request = manual_request(state.job, now)
            claim = self.ledger.claim_manual(request, self.owner, self.config.lease)
            events.immediately(state.job.id)
            self._hold(state, claim)
        self._immediately = []

    def _take_over(self) -> None:
        records = self.ledger.unfinished()
        self._owed.adopt(records)
        settling = self._mono() < self._leases_settle  # a forward step of the wall clock
        for record in left_unfinished(self.ledger, self._jobs, records):
            if settling and record.state is State.RUNNING:
                continue
            state = self._jobs[record.job_id]
            exclusive = state.job.overlap != "allow"
            if self._held.get(record.run_id) or (exclusive and state.active is not None):
                continue  # an `allow` job's runs are taken over while others of it run
            claim = take_over(self.ledger, record, self.owner, self.config.lease, exclusive)
            if claim is not None:
                events.taken_over(record, claim)
                self._hold(state, claim)

    def _hold(
        self, state: JobState, claim: Claim, renewed: tuple[float, float] | None = None
    ) -> HeldRun:
        """Hold a claimed run whose lease runs from `renewed` (monotonic, wall: default now)."""
        mono, wall = (self._mono(), self._wall()) if renewed is None else renewed
        return self._held.hold(state, claim, mono, wall)

    def _wall(self) -> float:
        return self.clock.now().timestamp()

    def _start(self, mono: float) -> None:
        # Staged runs (claimed ahead of their slot) already hold their share of max_parallel.
        room = self.config.max_parallel - self._held.occupied()
        launches = []
        for run in list(self._held.waiting.values()):
            if run.handle is None and run.start_after <= mono and (run.staged or room > 0):
                room -= not run.staged
                run.staged = False
                launches.append(run)
        ready = self._claim(self._owed.ready(mono), room, mono, launches)
        for state in ready:
            self._waiting[state.job.id] = None
        if launches:  # paused since the claim (SIGSTOP between claim and start): never stale
            self._leases.fence(self._mono(), self._wall())
            launches = [r for r in launches if self._held.get(r.claim.run_id) is r]
        # Launch everything first and log afterwards: a log line must not delay a start.
        started = [(run, self._launch(run)) for run in launches]
        for run, late in started:
            if late is not None:
                events.started(run.claim, run.attempt, late)

    def _claim(
        self, ready: list[JobState], room: int, mono: float, launches: list[HeldRun]
    ) -> list[JobState]:
        """Claim the next queued period of up to `room` jobs; return the jobs still waiting."""
        wall, mono = self.clock.now().timestamp(), self._mono()  # read together
        while room > 0 and ready:
            batch, ready = ready[:room], ready[room:]
            requests = [Owed.request(s, pop_queued(s)) for s in batch]
            # A run queued here whose row another provider runs with its lease past is taken
            # over too, but not while leases settle after a step of the wall clock.
            expired = mono >= self._leases_settle
            results = self.ledger.claim(requests, self.owner, self.config.lease, expired=expired)
            for state, request, result in zip(batch, requests, results, strict=True):
                if isinstance(result, RunRecord) and result.state in (
                    State.PENDING,
                    State.ABANDONED,
                ):  # another provider runs the job: this run waits for it (SPEC.md 10.6.1)
                    self._owed.block(state, request, mono)
                    continue
                if isinstance(result, RunRecord):
                    events.held_elsewhere(result)
                    continue
                if os.environ.get(FAILPOINT) == "after-claim":
                    os.kill(os.getpid(), signal.SIGKILL)
                # mono was read before the claim was sent: the lease runs from later.
                run = self._hold(state, result, renewed=(mono, wall))
                room -= 1
                ahead = result.scheduled_at - wall
                if ahead <= 0 or self.runner.waits:
                    launches.append(run)  # a runner that waits gets it now, to start at the slot
                else:  # claimed ahead (lead): start at the slot
                    run.staged, run.start_after = True, mono + ahead
            ready.extend(
                s for s in batch if s.queue and may_claim(s) and s.job.id not in self._owed.blocked
            )
        return ready

    def _launch(self, run: HeldRun) -> float | None:
        """Start the run's next attempt; return how late it starts (None: it could not)."""
        claim, state = run.claim, run.state
        started_at = self.clock.now().timestamp()
        ahead = claim.scheduled_at - started_at if run.attempt == claim.attempt + 1 else 0
        not_before = 0.0
        if ahead > 0:  # handed to a runner that waits for the slot
            started_at, not_before = float(claim.scheduled_at), time.monotonic() + ahead
        spec = RunSpec(
            state.job.entrypoint,
            RunContext.of(claim, run.attempt),
            self.root,
            timeout_of(state.job, self.config),
            self.config.kill_grace,
            started_at,
            not_before,
            self._leases.child_deadline(run),
        )
        run.started = self._mono() + max(0.0, ahead)
        try:
            handle = self.runner.start(spec, self._held.notifier(run))
        except OSError as exc:
            self._ended(
                run, Attempt(run.attempt, State.FAILED, started_at, 0.0, f"could not start: {exc}")
            )
            return None
        self._held.started(run, handle, run.started + spec.timeout + 0.01)
        return max(0.0, started_at - claim.scheduled_at)

    # -- ending ----------------------------------------------------------------------------

    def _reap(self, mono: float, *, every_run: bool = False) -> None:
        """End the attempts that ended: those a runner said so of, or past their timeout
        (`every_run`: poll every held run, as at shutdown, where stopped runs say nothing)."""
        for run in list(self._held) if every_run else self._held.to_look_at(mono):
            result = run.handle.poll() if run.handle is not None else None
            if result is not None:
                self._ended(run, result)
            elif not every_run:  # stopped and still dying (kill grace): its runner will say
                self._held.look_again(run, mono + 1.0)

    def _ended(self, run: HeldRun, result: Attempt) -> None:
        cfg, claim = self.config, run.claim
        events.ended(claim, result)
        if result.outcome is State.FAILED and not self._stopping:
            run.failures += 1
            delay = cfg.backoff * 2 ** (run.failures - 1)
            due = Due(claim.period_key, claim.period_start, claim.scheduled_at)
            inside = self.clock.now().timestamp() + delay < self._due.retry_deadline(run.state, due)
            if run.failures < attempts_of(run.state.job, cfg) and (
                inside or claim.kind is Kind.MANUAL
            ):
                if self.ledger.record_attempt(claim, result):
                    run.attempt += 1
                    self._held.wait(run, self._mono() + delay)
                    return
                self._lost(run)
                return
        self._end(run, result)

    def _end(self, run: HeldRun, result: Attempt) -> None:
        if not self.ledger.finish(run.claim, result):
            self._lost(run)
            return
        self._drop(run)
        self.outcomes.append(
            Outcome(
                run.claim.job_id, run.claim.period_key, result.outcome, result.attempt, result.error
            )
        )

    def _drop(self, run: HeldRun) -> None:
        self._held.drop(run)
        if run.state.queue:
            self._waiting[run.state.job.id] = None
            self._wake.set()  # a buffered period of this job may start now

    def _lost(self, run: HeldRun) -> None:
        events.lost(run.claim)
        if run.handle is not None and run.handle.poll() is None:
            run.handle.stop()
        self._drop(run)

    def _notice_jump(self, wall: float, mono: float) -> None:
        """Log a step of the wall clock; after a step forward, look after the leases."""
        if self._last is None:
            self._last = (wall, mono)
            return
        drift = (wall - self._last[0]) - (mono - self._last[1])
        self._last = (wall, mono)
        if abs(drift) > JUMP_TOLERANCE:
            events.jumped(drift)
        if drift > JUMP_TOLERANCE:
            # No pause (the monotonic clock did not move with it): the step aged every lease
            # a SQLite ledger keeps on the wall clock. Renew ours before they are judged, and
            # take over nothing for a lease: other providers renew theirs as they notice the
            # step, and a dead provider's leases are still past after that (SPEC.md 10.4.6).
            self._leases_settle = mono + self.config.lease
            if self._held and not self._leases.failures:
                self._leases.heartbeat()
