"""The provider's log lines: one per start and end of an attempt, and one per notable event.

Each record carries ``event`` and the fields it names as attributes (``extra``), so the
CLI's JSON formatter can emit them as keys; the text formatter shows the message.
"""

from __future__ import annotations

import logging
from typing import Any

from scheduled_spec.provider.ledger import Attempt, Claim, ClaimRequest, Gap, RunRecord, State

log = logging.getLogger("scheduled_spec.provider")

#: The attributes a provider log record may carry besides the standard ones.
FIELDS = (
    "event",
    "job",
    "period",
    "attempt",
    "run_id",
    "fence",
    "late_seconds",
    "outcome",
    "duration",
    "error",
    "count",
    "seconds",
)


def emit(level: int, event: str, message: str, **fields: Any) -> None:
    """Log `message` at `level` with ``event`` and `fields` attached to the record."""
    if log.isEnabledFor(level):
        log.log(level, message, extra={"event": event, **fields})


def started(claim: Claim, attempt: int, late: float) -> None:
    """One line per attempt start."""
    emit(
        logging.INFO,
        "start",
        f"start {claim.job_id} period {claim.period_key} attempt {attempt}",
        job=claim.job_id,
        period=claim.period_key,
        attempt=attempt,
        run_id=claim.run_id,
        fence=claim.fence,
        late_seconds=round(late, 3),
    )


def ended(claim: Claim, result: Attempt) -> None:
    """One line per attempt end, with its outcome and error summary."""
    why = f" ({result.error})" if result.error else ""
    emit(
        logging.INFO if result.outcome is State.SUCCEEDED else logging.WARNING,
        "end",
        f"end {claim.job_id} period {claim.period_key} attempt {result.attempt}: "
        f"{result.outcome}{why}",
        job=claim.job_id,
        period=claim.period_key,
        attempt=result.attempt,
        run_id=claim.run_id,
        outcome=str(result.outcome),
        duration=round(result.duration, 3),
        error=result.error,
    )


def missed(gap: Gap) -> None:
    """Periods recorded as missed (one line however many)."""
    emit(
        logging.WARNING,
        "missed",
        f"{gap.job_id}: {gap.count} period(s) missed, {gap.first_key} to {gap.last_key}",
        job=gap.job_id,
        period=gap.first_key,
        count=gap.count,
    )


def queued(request: ClaimRequest) -> None:
    """A period came due while the job's previous run runs: it starts right after."""
    emit(
        logging.INFO,
        "queued",
        f"{request.job_id}: period {request.period_key} waits for the previous run to end",
        job=request.job_id,
        period=request.period_key,
    )


def skipped(request: ClaimRequest) -> None:
    """A period skipped because one run ran and another waited."""
    emit(
        logging.WARNING,
        "skipped",
        f"{request.job_id}: period {request.period_key} skipped: the previous run still runs",
        job=request.job_id,
        period=request.period_key,
    )


def taken_over(record: RunRecord, claim: Claim) -> None:
    """An unfinished run of a dead, expired or stopped owner is run again."""
    emit(
        logging.WARNING,
        "take-over",
        f"{record.job_id}: period {record.period_key} was left {record.state} by"
        f" {record.owner}; running it again",
        job=record.job_id,
        period=record.period_key,
        fence=claim.fence,
    )


def lost(claim: Claim) -> None:
    """This provider's fence no longer matches: someone took the run over."""
    emit(
        logging.ERROR,
        "claim-lost",
        f"{claim.job_id}: lost the claim on period {claim.period_key} (fence {claim.fence}):"
        " another provider took it over",
        job=claim.job_id,
        period=claim.period_key,
        fence=claim.fence,
    )


def jumped(drift: float) -> None:
    """The wall clock moved differently from the monotonic clock."""
    direction = "forward" if drift > 0 else "backward"
    emit(
        logging.WARNING,
        "clock-jump",
        f"wall clock jumped {direction} by {abs(drift):.0f} s",
        seconds=round(drift, 3),
    )


def fenced(claim: Claim, age: float) -> None:
    """This provider could not renew a lease in time: it stops the run (self-fencing)."""
    emit(
        logging.ERROR,
        "self-fenced",
        f"{claim.job_id}: lease on period {claim.period_key} not renewed for {age:.1f} s:"
        " stopping the run; another provider takes it over once the lease expired",
        job=claim.job_id,
        period=claim.period_key,
        fence=claim.fence,
        seconds=round(age, 3),
    )


def ledger_down(exc: BaseException, failures: int, retry: float) -> None:
    """The ledger did not answer a renewal: claiming waits; retried with capped backoff."""
    emit(
        logging.WARNING if failures > 1 else logging.ERROR,
        "ledger-unreachable",
        f"ledger unreachable ({exc}); claiming nothing until it answers; retry {failures}"
        f" in {retry:g} s",
        error=str(exc),
        count=failures,
        seconds=retry,
    )


def ledger_back(failures: int) -> None:
    """The ledger answers again after failed renewals: claiming resumes."""
    emit(
        logging.WARNING,
        "ledger-back",
        f"ledger reachable again after {failures} failed attempt(s); claiming resumes",
        count=failures,
    )


def pruned(count: int, days: float, runs: int | None) -> None:
    """Retention deleted `count` finished rows (nothing logged when none)."""
    if count:
        emit(
            logging.INFO,
            "prune",
            f"pruned {count} ledger rows older than {days:g} days or beyond {runs} per job",
            count=count,
        )


def ledger_replaced(exc: BaseException, held: int) -> None:
    """The ledger's file was deleted or replaced: the provider stops (SPEC.md 10.13.4)."""
    emit(
        logging.ERROR,
        "ledger-replaced",
        f"{exc}. Stopped claiming; stopping {held} held run(s), whose ends cannot be"
        " recorded; the provider stops",
        error=str(exc),
        count=held,
    )


def immediately(job_id: str) -> None:
    """`immediately = true`: one manual run of the job as `run` starts."""
    emit(
        logging.INFO,
        "immediately",
        f"{job_id}: one run at start (immediately = true), counted for no period",
        job=job_id,
    )


def held_elsewhere(record: RunRecord) -> None:
    """A run this provider meant to claim is held or finished by another."""
    emit(
        logging.DEBUG,
        "held-elsewhere",
        f"{record.job_id}: period {record.period_key} already {record.state}",
        job=record.job_id,
    )


def left_to_another_version(job_id: str, theirs: str, ours: str) -> None:
    """A provider of another version of the project decides the job now (10.17.7)."""
    emit(
        logging.WARNING,
        "left-to-another-version",
        f"{job_id}: the ledger counts its runs as {theirs!r}, a provider of another version"
        f" of the project (this one: {ours!r}) started since: it decides the job now",
        job=job_id,
    )
