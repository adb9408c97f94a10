"""Runs left unfinished by another provider (or an earlier life of this one), SPEC.md 10.4.2.

A running row is taken over when it was recorded abandoned, when its lease expired on the
ledger's clock, or when its owner ran on this host and its process is gone. Only rows of
jobs this provider knows are looked at: replicas may run other versions of the project.
Pending rows are not taken over: they are queued and claimed like any run come due.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from scheduled_spec.provider.due import JobState
from scheduled_spec.provider.ledger import Claim, ClaimRequest, Ledger, RunRecord, State
from scheduled_spec.provider.owner import Owner


def takeable(record: RunRecord, lease_now: float) -> bool:
    """Abandoned, its owner proven dead, or its lease past on the ledger's clock."""
    if record.state is State.ABANDONED:
        return True
    expired = record.lease_until is not None and record.lease_until < lease_now
    return expired or record.owner_proven_dead()


def left_unfinished(
    ledger: Ledger, jobs: Mapping[str, JobState], records: Iterable[RunRecord] | None = None
) -> Iterator[RunRecord]:
    """Running or abandoned rows of known jobs that may be taken over now (`tick --dry-run`
    lists them), among `records` (default: the ledger's unfinished rows)."""
    lease_now = ledger.now()  # not the provider's clock, which may be far off
    for record in ledger.unfinished() if records is None else records:
        if record.state is State.PENDING:
            continue
        if record.job_id in jobs and takeable(record, lease_now):
            yield record


def take_over(
    ledger: Ledger, record: RunRecord, owner: Owner, lease: float, exclusive: bool = True
) -> Claim | None:
    """Claim a takeable run for `owner` (fence bumped); None when someone else was first,
    or (`exclusive`) while another attempt of the job runs: an abandoned run waits for it."""
    if record.state is State.ABANDONED or not record.owner_proven_dead():
        request = ClaimRequest(
            record.job_id,
            record.every,
            record.period_key,
            record.period_start,
            record.scheduled_at or record.period_start,
            exclusive,
        )
        (result,) = ledger.claim([request], owner, lease)
        return result if isinstance(result, Claim) else None
    return ledger.take_over(record, owner, lease)
