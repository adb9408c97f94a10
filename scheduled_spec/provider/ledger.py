"""The ledger seam (SPEC.md 10.2): what a provider records, and where.

A ledger holds one row per (job ID, period key) for scheduled runs, one row per manual
run, and one row per gap of missed periods. Every backend (SQLite for one host, PostgreSQL
for replicas on several) implements the `Ledger` protocol and passes the same contract
suite (tests/provider/test_ledger_contract.py).

A claim is an idempotent insert. The claimer holds a lease (``lease_until``) that it renews
by heartbeat and a fence number; a claim whose lease expired, that was recorded abandoned,
or whose owner is proven dead is taken over by a conditional update that bumps the fence.
Heartbeats and outcomes are written only where the fence still matches.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from scheduled_spec.errors import ScheduledError
from scheduled_spec.provider.owner import Owner

if TYPE_CHECKING:
    from scheduled_spec.clock import Clock

log = logging.getLogger("scheduled_spec.provider.ledger")
SKEW_WARNING = 1.0  # seconds between the provider's clock and the ledger's worth a warning


class LedgerError(ScheduledError):
    """The ledger cannot be opened or used: bad URL, unsupported backend, unusable file."""


class LedgerUnavailableError(LedgerError):
    """The ledger cannot be used now but may be later: its server unreachable or the
    connection lost, a deadlock retried to the end, a file locked past the busy timeout."""


class LedgerReplacedError(LedgerError):
    """The SQLite ledger's file was deleted or replaced while open: nothing more can be
    recorded in it (another provider may be using a new file at the path)."""


class LedgerNotFoundError(LedgerError):
    """Opened without `create`, the ledger (its file, or its PostgreSQL schema) is not there."""


class Kind(str, Enum):
    """What a ledger row stands for."""

    SCHEDULED = "scheduled"  # the run of one period
    MANUAL = "manual"  # `scheduled run-once`; never counts for a period
    MISSED = "missed"  # a gap: `count` periods from `period_key` to `last_period_key`
    SKIPPED = "skipped"  # a period that came due while one run ran and another waited

    def __str__(self) -> str:
        return self.value


class State(str, Enum):
    """Where a run stands. PENDING, RUNNING and ABANDONED are unfinished; the others final.

    PENDING is an owed run nobody runs yet (queued behind a running attempt of its job,
    waiting for room, or left by a provider that stopped); any provider may claim it.
    """

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    ABANDONED = "abandoned"
    MISSED = "missed"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


UNFINISHED = (State.PENDING, State.RUNNING, State.ABANDONED)
NO_CAP = 1 << 62  # `prune`'s `keep` when there is none: no job has that many rows


@dataclass(frozen=True)
class ClaimRequest:
    """Ask to run one period of one job.

    `period_start` is whole Unix seconds: the period's start, or for a run placed by an
    extension schedule (SPEC.md 10.17) its scheduled instant rounded down. `scheduled_at` is
    the run's instant in Unix seconds, fractional for sub-second `interval` ticks.
    """

    job_id: str
    every: str
    period_key: str
    period_start: int
    scheduled_at: float
    exclusive: bool = True  # one attempt of the job at a time (every `overlap` but "allow")


@dataclass(frozen=True)
class Claim:
    """A run this provider holds. Writes about it succeed only while `fence` matches."""

    run_id: str
    job_id: str
    every: str
    period_key: str
    period_start: int
    scheduled_at: float
    fence: int
    attempt: int  # attempts already made under any owner (the next one is attempt + 1)
    kind: Kind = Kind.SCHEDULED
    taken_over: bool = False

    @classmethod
    def new(cls, run_id: str, request: ClaimRequest, kind: Kind = Kind.SCHEDULED) -> Claim:
        """The claim of a row just inserted: fence 1, no attempt made yet."""
        r = request
        return cls(
            run_id, r.job_id, r.every, r.period_key, r.period_start, r.scheduled_at, 1, 0, kind
        )

    @classmethod
    def of(cls, run: RunRecord, fence: int | None = None) -> Claim:
        """The claim of an existing row: with `fence`, the one a claim just bumped to (a
        take-over, unless the row was pending)."""
        return cls(
            run.run_id,
            run.job_id,
            run.every,
            run.period_key,
            run.period_start,
            run.scheduled_at or run.period_start,
            run.fence if fence is None else fence,
            run.attempt,
            taken_over=fence is not None and run.state is not State.PENDING,
        )


@dataclass(frozen=True)
class RunRecord:
    """One ledger row as stored."""

    run_id: str
    job_id: str
    kind: Kind
    every: str
    period_key: str
    period_start: int
    state: State
    fence: int
    attempt: int
    owner: str | None
    lease_until: float | None
    scheduled_at: float | None
    created_at: float
    finished_at: float | None
    error: str | None
    last_period_key: str | None = None
    missed_count: int = 0

    def owner_proven_dead(self) -> bool:
        """True when the owner ran on this host and its process is gone (or its pid reused)."""
        if self.owner is None:
            return True
        try:
            return Owner.parse(self.owner).proven_dead()
        except ValueError:
            return False


@dataclass(frozen=True)
class Horizon:
    """A job's durable horizon (SPEC.md 10.5.1): every run of it up to `ms` is recorded.

    `ms` is Unix milliseconds: a period start for a job on its slot, a run's instant for a
    job placed by an extension schedule. `schedule` says which (`schedule_key`); a
    different one means the job's schedule changed, and it starts afresh.
    """

    schedule: str
    ms: int


@dataclass(frozen=True)
class Advance:
    """Record what came due for one job and move its horizon from `since` to `until`.

    `runs` become pending rows, or skipped ones when the job's `overlap` says so (decided
    on the ledger's state of the job, across every provider); `gap` is one missed row.
    Applied only while the job's horizon is still `since`: whoever moves it first decides.
    """

    job_id: str
    schedule: str
    since: int
    until: int
    runs: tuple[ClaimRequest, ...] = ()
    gap: Gap | None = None
    overlap: str = "buffer-one"


@dataclass(frozen=True)
class Advanced:
    """What `Ledger.advance` did with one `Advance`.

    When `applied` is False nothing was written: `horizon` is the job's horizon now, to
    plan again from.
    """

    applied: bool
    queued: tuple[ClaimRequest, ...] = ()
    skipped: tuple[ClaimRequest, ...] = ()
    horizon: Horizon | None = None


@dataclass(frozen=True)
class Attempt:
    """How one attempt of a run ended. Times are Unix seconds (wall clock)."""

    attempt: int
    outcome: State  # SUCCEEDED, FAILED, TIMED_OUT or ABANDONED
    started_at: float
    duration: float
    error: str | None = None
    output: str = ""


@dataclass(frozen=True)
class Gap:
    """Consecutive missed periods of one job, recorded as one row however many there are."""

    job_id: str
    every: str
    first_key: str
    first_start: int
    last_key: str
    last_start: int
    count: int


@dataclass(frozen=True)
class HistoryEntry:
    """One line of `scheduled history`: a run and one of its attempts (or none)."""

    run: RunRecord
    attempt: Attempt | None


def history_entries(
    runs: Sequence[RunRecord], attempt_rows: Iterable[Sequence[Any]]
) -> list[HistoryEntry]:
    """`history`'s entries: each run with its attempts, newest first, or one entry without.

    `attempt_rows` are ``(run_id, attempt, outcome, started_at, duration, error, output)``,
    each run's ordered newest first (attempt, then fence, descending).
    """
    attempts: dict[str, list[Attempt]] = {}
    for run_id, number, outcome, started, duration, error, output in attempt_rows:
        attempts.setdefault(run_id, []).append(
            Attempt(number, State(outcome), started, duration, error, output)
        )
    entries = []
    for run in runs:
        tried = attempts.get(run.run_id)
        if not tried:
            entries.append(HistoryEntry(run, None))
        entries.extend(HistoryEntry(run, a) for a in tried or ())
    return entries


class Ledger(Protocol):
    """Where runs are recorded. Every method commits before it returns.

    Times (leases, created/finished) come from the ledger's own clock: the provider's
    `Clock` for SQLite, the database server's for PostgreSQL.
    """

    url: str

    def now(self) -> float:
        """The ledger's clock, Unix seconds: what leases are compared against."""
        ...

    def horizons(self) -> dict[str, Horizon]:
        """Each job's durable horizon, for every job any provider has seen."""
        ...

    def see(self, first: Mapping[str, Horizon]) -> dict[str, Horizon]:
        """Record first sight (SPEC.md 10.5.4): each job's horizon, unless it has one.

        A job whose recorded horizon has another `schedule` (it changed between deploys)
        is given the new one. Returns the horizons now recorded for these jobs.
        """
        ...

    def advance(self, steps: Sequence[Advance]) -> list[Advanced]:
        """Apply each step (see `Advance`) in one transaction; one result per step."""
        ...

    def unfinished(self) -> list[RunRecord]:
        """Scheduled runs recorded pending, running or abandoned, oldest first."""
        ...

    def claim(
        self,
        requests: Sequence[ClaimRequest],
        owner: Owner,
        lease_seconds: float,
        *,
        expired: bool = True,
    ) -> list[Claim | RunRecord]:
        """Claim each requested run, in one transaction (SPEC.md 10.3, 10.6.1).

        A run is claimed when its row is pending or abandoned, or (`expired`) running with
        its lease past (fence bumped), and, for an `exclusive` request, no other attempt of
        the job is running. For each request, in order: the `Claim`, or else the row as it is
        (still pending or abandoned: the job is busy elsewhere; try again later).
        """
        ...

    def take_over(self, run: RunRecord, owner: Owner, lease_seconds: float) -> Claim | None:
        """Take over an unfinished run whose owner the caller proved dead.

        Succeeds only while the row still has ``run.fence`` and is unfinished; bumps the
        fence. None when someone else changed it first.
        """
        ...

    def claim_manual(self, request: ClaimRequest, owner: Owner, lease_seconds: float) -> Claim:
        """Record a manual run (its own identity; never counts for its period)."""
        ...

    def heartbeat(self, claims: Sequence[Claim], lease_seconds: float) -> list[Claim]:
        """Extend the leases of `claims`; return those whose fence no longer matches (lost)."""
        ...

    def record_attempt(self, claim: Claim, attempt: Attempt) -> bool:
        """Record an attempt that will be retried. False when the fence no longer matches."""
        ...

    def finish(self, claim: Claim, attempt: Attempt) -> bool:
        """Record the last attempt and the run's final state (the attempt's outcome).

        False, and nothing written, when the fence no longer matches.
        """
        ...

    def history(self, job_id: str | None = None, limit: int = 50) -> list[HistoryEntry]:
        """Newest first: up to `limit` runs, one entry per attempt (or one for none)."""
        ...

    def prune(self, days: float, job_ids: Collection[str], keep: int | None = None) -> int:
        """Delete finished rows of `job_ids` older than `days`, and with `keep`, each job's
        finished rows beyond its `keep` newest (a job's horizon is kept apart, in `see`).

        Rows of other jobs are never touched: replicas running another version of the
        project may still need them. Returns how many rows were deleted.
        """
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def open_ledger(url: str, *, clock: Clock, create: bool = True) -> Ledger:
    """Open the ledger a URL names, creating it (or its schema) if needed.

    ``sqlite:///abs/path``, ``sqlite:relative/path`` (optionally ``?synchronous=normal``);
    ``postgresql://user@host:port/db`` (or ``postgres://``, optionally ``?schema=NAME``),
    which needs psycopg (``pip install 'scheduled-spec[postgres]'``). Opening a PostgreSQL
    ledger to run jobs (`create`) logs the skew between `clock` and the server's clock (a
    warning above 1 s). Raises LedgerNotFoundError without `create` when there is no ledger yet,
    and LedgerError for an unknown scheme, a missing driver or a ledger that cannot be opened.
    """
    scheme, sep, _ = url.partition(":")
    if not sep:
        raise LedgerError(
            f"expected a ledger URL such as sqlite:///path/ledger.sqlite3, got {url!r}"
        )
    ledger: Ledger
    if scheme == "sqlite":
        from scheduled_spec.provider.ledger_sqlite import SQLiteLedger  # noqa: PLC0415

        ledger = SQLiteLedger.from_url(url, clock=clock, create=create)
    elif scheme in ("postgresql", "postgres"):
        ledger = postgres_ledger(url, clock=clock, create=create)
        if create:  # SQLite's clock is the provider's: no skew to tell
            log_clock_skew(ledger, clock)
    else:
        raise LedgerError(
            f"unknown ledger scheme {scheme!r} in {url!r}; expected sqlite:///PATH or"
            " postgresql://USER@HOST:PORT/DATABASE"
        )
    return ledger


def postgres_ledger(url: str, *, clock: Clock, create: bool = True) -> Ledger:
    """The PostgreSQL ledger of `url` (psycopg imported only now). Raises LedgerError."""
    try:
        from scheduled_spec.provider.ledger_postgres import PostgresLedger  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("psycopg"):
            raise
        raise LedgerError(
            f"{url.partition('://')[0]}:// ledgers need psycopg 3, which is not installed:"
            " pip install 'scheduled-spec[postgres]'"
        ) from None
    return PostgresLedger(url, clock=clock, create=create)


def log_clock_skew(ledger: Ledger, clock: Clock) -> float:
    """Log how far the ledger's clock is from `clock` (INFO; WARNING above 1 s); return it."""
    before = clock.now().timestamp()
    theirs = ledger.now()
    skew = theirs - (before + clock.now().timestamp()) / 2
    level = logging.WARNING if abs(skew) > SKEW_WARNING else logging.INFO
    log.log(
        level,
        "ledger %s: its clock is %.3f s %s this provider's%s",
        ledger.url,
        abs(skew),
        "ahead of" if skew >= 0 else "behind",
        "; leases follow the ledger's clock" if level > logging.INFO else "",
        extra={"event": "clock-skew", "seconds": round(skew, 3)},
    )
    return skew
