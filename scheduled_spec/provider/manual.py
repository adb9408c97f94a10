"""Manual runs (``scheduled run-once``): one attempt now, recorded as manual.

A manual run has its own identity in the ledger and never counts for its period: the
scheduled run of that period still happens.
"""

from __future__ import annotations

import threading

from scheduled_spec.cadence import period_key, period_start
from scheduled_spec.clock import Clock
from scheduled_spec.models import Job, Project
from scheduled_spec.provider import events
from scheduled_spec.provider.clocks import wait
from scheduled_spec.provider.config import Outcome, ProviderConfig, timeout_of
from scheduled_spec.provider.ledger import Attempt, ClaimRequest, Ledger, State
from scheduled_spec.provider.owner import Owner
from scheduled_spec.provider.runner import RunContext, Runner, RunSpec


def manual_request(job: Job, now: int) -> ClaimRequest:
    """What a manual run of `job` at `now` records: the current period, scheduled at `now`."""
    start = period_start(job.every, now)
    return ClaimRequest(job.id, job.every.value, period_key(job.every, start), start, now)


def run_once(
    project: Project,
    job_id: str,
    ledger: Ledger,
    runner: Runner,
    clock: Clock,
    config: ProviderConfig | None = None,
) -> Outcome:
    """Run one job now, once, and record it as a manual run.

    Raises KeyError (with close IDs) for an unknown job, OSError when the child cannot
    start. On KeyboardInterrupt the attempt is stopped and recorded abandoned, then the
    interrupt propagates.
    """
    cfg = config or ProviderConfig()
    job = project.job(job_id)
    owner = Owner.current()
    now = clock.now().timestamp()
    claim = ledger.claim_manual(manual_request(job, int(now)), owner, cfg.lease)
    timeout = timeout_of(job, cfg)
    context = RunContext.of(claim, 1)
    spec = RunSpec(job.entrypoint, context, project.root, timeout, cfg.kill_grace, now)
    done = threading.Event()
    try:
        handle = runner.start(spec, done.set)
    except BaseException as exc:  # a manual row is never taken over: record how it ended
        failed = isinstance(exc, OSError)
        outcome = State.FAILED if failed else State.ABANDONED
        why = f"could not start: {exc}" if failed else "stopped before it started"
        ledger.finish(claim, Attempt(1, outcome, now, 0.0, why))
        runner.close()
        raise
    events.started(claim, 1, 0.0)
    result: Attempt | None = None
    try:
        while (result := handle.poll()) is None:
            wait(clock, done, cfg.lease / 3)
            done.clear()
            ledger.heartbeat([claim], cfg.lease)
    except KeyboardInterrupt:
        handle.stop()
        while (result := handle.poll()) is None:
            done.wait(0.1)
        ledger.finish(claim, result)
        events.ended(claim, result)
        raise
    finally:
        runner.close()
    ledger.finish(claim, result)
    events.ended(claim, result)
    return Outcome(job.id, claim.period_key, result.outcome, 1, result.error)
