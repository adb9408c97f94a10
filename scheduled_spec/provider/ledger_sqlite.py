"""The embedded ledger: one SQLite file, safe for several processes on one host.

WAL journal, ``synchronous=FULL`` (a claim is on disk before the job starts), a busy
timeout, and ``BEGIN IMMEDIATE`` for every write, so concurrent providers queue instead of
failing with "database is locked". At open, ``PRAGMA quick_check``; a corrupt file is moved
aside to ``<name>.corrupt-<UTC timestamp>`` with an ERROR log and a fresh ledger starts.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from scheduled_spec.clock import Clock
from scheduled_spec.provider.ledger import (
    NO_CAP,
    Advance,
    Advanced,
    Attempt,
    Claim,
    ClaimRequest,
    Gap,
    HistoryEntry,
    Horizon,
    Kind,
    LedgerError,
    LedgerNotFoundError,
    RunRecord,
    State,
    history_entries,
)
from scheduled_spec.provider.obligations import claimable, overlap_skips
from scheduled_spec.provider.owner import Owner
from scheduled_spec.provider.sqlite_file import LedgerFile, open_database

_RUN_COLUMNS = (
    "run_id, job_id, kind, every, period_key, period_start, state, fence, attempt, owner,"
    " lease_until, scheduled_at, created_at, finished_at, error, last_period_key, missed_count"
)
_ATTEMPT_COLUMNS = "run_id, attempt, outcome, started_at, duration, error, output"
_SYNCHRONOUS = ("full", "normal", "extra")


def _record(row: Sequence[Any]) -> RunRecord:
    return RunRecord(row[0], row[1], Kind(row[2]), row[3], row[4], row[5], State(row[6]), *row[7:])


def parse_url(url: str) -> tuple[Path, str]:
    """The file and the ``synchronous`` setting a ``sqlite:`` URL names. Raises LedgerError."""
    rest, _, query = url.removeprefix("sqlite:").partition("?")
    if rest.startswith("//") and not rest.startswith("///"):
        raise LedgerError(f"expected sqlite:///ABSOLUTE/PATH or sqlite:RELATIVE/PATH, got {url!r}")
    path = "/" + rest.lstrip("/") if rest.startswith("///") else rest
    if not path:
        raise LedgerError(f"{url!r} names no file; expected sqlite:///PATH/ledger.sqlite3")
    options = {k: v[-1] for k, v in parse_qs(query).items()}
    synchronous = options.pop("synchronous", "full").lower()
    if synchronous not in _SYNCHRONOUS or options:
        raise LedgerError(
            f"{url!r}: the only option is synchronous=full|normal|extra, got {query!r}"
        )
    return Path(path), synchronous


class SQLiteLedger:
    """A `Ledger` in one SQLite file. Use from one thread (the provider's loop)."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock,
        busy_timeout: float = 60.0,
        synchronous: str = "full",
    ) -> None:
        self.path = path
        self.url = f"sqlite://{path}" if path.is_absolute() else f"sqlite:{path}"
        self._clock = clock
        self._busy_ms = int(busy_timeout * 1000)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"{path.parent}: cannot create the ledger directory: {exc}") from exc
        self._db = open_database(path, clock, self._busy_ms, synchronous)
        self._file = LedgerFile(path)  # checked at every write: deleted or replaced?

    @classmethod
    def from_url(cls, url: str, *, clock: Clock, create: bool = True) -> SQLiteLedger:
        """``sqlite:///abs/path`` or ``sqlite:relative/path``, with ``?synchronous=normal``.

        Without `create`, raises LedgerNotFoundError when the file does not exist.
        """
        path, synchronous = parse_url(url)
        if not create and not path.exists():
            raise LedgerNotFoundError(f"{path}: no ledger file yet")
        return cls(path, clock=clock, synchronous=synchronous)

    # -- helpers ---------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.now().timestamp()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        self._file.begin_write(db)
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @staticmethod
    def _insert(db: sqlite3.Connection, row: dict[str, Any]) -> bool:
        """Insert one run row unless its identity exists; True when inserted."""
        names = ", ".join(row)
        marks = ", ".join("?" * len(row))
        query = f"INSERT INTO runs ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"  # noqa: S608
        return bool(db.execute(query, tuple(row.values())).rowcount)

    @staticmethod
    def _request_row(req: ClaimRequest, kind: Kind, state: State, now: float) -> dict[str, Any]:
        return {
            "run_id": secrets.token_hex(8),
            "job_id": req.job_id,
            "kind": str(kind),
            "every": req.every,
            "period_key": req.period_key,
            "period_start": req.period_start,
            "scheduled_at": req.scheduled_at,
            "state": str(state),
            "created_at": now,
            # Each claim bumps the fence: 1 for a row claimed as it is written.
            "fence": int(state is State.RUNNING),
        }

    def _row(self, db: sqlite3.Connection, where: str, args: Sequence[Any]) -> RunRecord | None:
        row = db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE {where}", args).fetchone()  # noqa: S608 - fixed SQL
        return None if row is None else _record(row)

    # -- the Ledger protocol ---------------------------------------------------------------

    def now(self) -> float:
        return self._now()

    def horizons(self) -> dict[str, Horizon]:
        rows = self._db.execute("SELECT job_id, schedule, horizon_ms FROM jobs")
        return {job_id: Horizon(schedule, ms) for job_id, schedule, ms in rows}

    def see(self, first: Mapping[str, Horizon]) -> dict[str, Horizon]:
        found: dict[str, Horizon] = {}
        with self._write() as db:
            now = self._now()
            for job_id, horizon in first.items():
                row = db.execute(
                    "SELECT schedule, horizon_ms FROM jobs WHERE job_id = ?", (job_id,)
                ).fetchone()
                if row is not None and row[0] == horizon.schedule:
                    found[job_id] = Horizon(*row)
                    continue
                db.execute(
                    "INSERT OR REPLACE INTO jobs (job_id, schedule, horizon_ms, seen_at)"
                    " VALUES (?, ?, ?, ?)",
                    (job_id, horizon.schedule, horizon.ms, now),
                )
                found[job_id] = horizon
        return found

    def advance(self, steps: Sequence[Advance]) -> list[Advanced]:
        results = []
        with self._write() as db:
            now = self._now()
            for step in steps:
                row = db.execute(
                    "SELECT schedule, horizon_ms FROM jobs WHERE job_id = ?", (step.job_id,)
                ).fetchone()
                if row is None or tuple(row) != (step.schedule, step.since):
                    results.append(Advanced(False, horizon=None if row is None else Horizon(*row)))
                    continue
                running, queued = db.execute(
                    "SELECT COUNT(*) FILTER (WHERE state = 'running'),"
                    " COUNT(*) FILTER (WHERE state != 'running') FROM runs"
                    " WHERE job_id = ? AND kind = 'scheduled'"
                    " AND state IN ('pending', 'running', 'abandoned')",
                    (step.job_id,),
                ).fetchone()
                skip = overlap_skips(step.overlap, running, queued, len(step.runs) > 1)
                if step.gap is not None:
                    self._insert_gap(db, step.gap, now)
                for req in step.runs:
                    kind, state = (
                        (Kind.SKIPPED, State.SKIPPED) if skip else (Kind.SCHEDULED, State.PENDING)
                    )
                    row = self._request_row(req, kind, state, now)
                    if skip:
                        row.update(missed_count=1, finished_at=now)
                    self._insert(db, row)
                db.execute(
                    "UPDATE jobs SET horizon_ms = ? WHERE job_id = ?", (step.until, step.job_id)
                )
                results.append(Advanced(True, () if skip else step.runs, step.runs if skip else ()))
        return results

    def unfinished(self) -> list[RunRecord]:
        rows = self._db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs"  # noqa: S608 - fixed SQL
            " WHERE state IN ('pending', 'running', 'abandoned')"
            " AND kind = 'scheduled' ORDER BY period_start, scheduled_at"
        )
        return [_record(r) for r in rows]

    def claim(
        self,
        requests: Sequence[ClaimRequest],
        owner: Owner,
        lease_seconds: float,
        *,
        expired: bool = True,
    ) -> list[Claim | RunRecord]:
        results: list[Claim | RunRecord] = []
        with self._write() as db:
            now = self._now()
            for req in requests:
                existing = self._row(
                    db,
                    "job_id = ? AND period_key = ? AND kind != 'manual'",
                    (req.job_id, req.period_key),
                )
                busy = (
                    req.exclusive
                    and db.execute(
                        "SELECT 1 FROM runs WHERE job_id = ? AND kind = 'scheduled'"
                        " AND state = 'running' AND run_id != ? LIMIT 1",
                        (req.job_id, "" if existing is None else existing.run_id),
                    ).fetchone()
                    is not None
                )
                if existing is None:
                    state = State.PENDING if busy else State.RUNNING
                    row = self._request_row(req, Kind.SCHEDULED, state, now)
                    if not busy:
                        row.update(owner=str(owner), lease_until=now + lease_seconds)
                    self._insert(db, row)
                    record = self._row(db, "run_id = ?", (row["run_id"],))
                    assert record is not None  # noqa: S101 - just inserted
                    results.append(record if busy else Claim.new(row["run_id"], req))
                    continue
                claim = None
                if not busy and claimable(existing, now, expired):
                    claim = self._bump(db, existing, owner, now + lease_seconds)
                results.append(claim if claim is not None else existing)
        return results

    @staticmethod
    def _bump(
        db: sqlite3.Connection, run: RunRecord, owner: Owner, lease_until: float
    ) -> Claim | None:
        changed = db.execute(
            "UPDATE runs SET fence = fence + 1, owner = ?, lease_until = ?, state = 'running',"
            " finished_at = NULL WHERE run_id = ? AND fence = ?"
            " AND state IN ('pending', 'running', 'abandoned')",
            (str(owner), lease_until, run.run_id, run.fence),
        ).rowcount
        return Claim.of(run, fence=run.fence + 1) if changed else None

    def take_over(self, run: RunRecord, owner: Owner, lease_seconds: float) -> Claim | None:
        with self._write() as db:
            return self._bump(db, run, owner, self._now() + lease_seconds)

    def claim_manual(self, request: ClaimRequest, owner: Owner, lease_seconds: float) -> Claim:
        with self._write() as db:
            now = self._now()
            row = self._request_row(request, Kind.MANUAL, State.RUNNING, now)
            row.update(owner=str(owner), lease_until=now + lease_seconds)
            self._insert(db, row)
        return Claim.new(row["run_id"], request, Kind.MANUAL)

    def heartbeat(self, claims: Sequence[Claim], lease_seconds: float) -> list[Claim]:
        if not claims:
            return []
        lost = []
        with self._write() as db:
            until = self._now() + lease_seconds
            for claim in claims:
                changed = db.execute(
                    "UPDATE runs SET lease_until = ? WHERE run_id = ? AND fence = ?"
                    " AND state = 'running'",
                    (until, claim.run_id, claim.fence),
                ).rowcount
                if not changed:
                    lost.append(claim)
        return lost

    def _attempt(self, db: sqlite3.Connection, claim: Claim, attempt: Attempt) -> bool:
        changed = db.execute(
            "UPDATE runs SET attempt = MAX(attempt, ?) WHERE run_id = ? AND fence = ?"
            " AND state = 'running'",
            (attempt.attempt, claim.run_id, claim.fence),
        ).rowcount
        if changed:
            db.execute(
                "INSERT OR REPLACE INTO attempts (run_id, attempt, fence, outcome, started_at,"
                " duration, error, output) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    claim.run_id,
                    attempt.attempt,
                    claim.fence,
                    str(attempt.outcome),
                    attempt.started_at,
                    attempt.duration,
                    attempt.error,
                    attempt.output,
                ),
            )
        return bool(changed)

    def record_attempt(self, claim: Claim, attempt: Attempt) -> bool:
        with self._write() as db:
            return self._attempt(db, claim, attempt)

    def finish(self, claim: Claim, attempt: Attempt) -> bool:
        with self._write() as db:
            if not self._attempt(db, claim, attempt):
                return False
            db.execute(
                "UPDATE runs SET state = ?, finished_at = ?, error = ?, lease_until = NULL"
                " WHERE run_id = ? AND fence = ?",
                (str(attempt.outcome), self._now(), attempt.error, claim.run_id, claim.fence),
            )
        return True

    def _insert_gap(self, db: sqlite3.Connection, gap: Gap, now: float) -> None:
        first = ClaimRequest(gap.job_id, gap.every, gap.first_key, gap.first_start, gap.first_start)
        row = self._request_row(first, Kind.MISSED, State.MISSED, now)
        row.update(
            scheduled_at=None,
            last_period_key=gap.last_key,
            last_period_start=gap.last_start,
            missed_count=gap.count,
            finished_at=now,
        )
        self._insert(db, row)

    def history(self, job_id: str | None = None, limit: int = 50) -> list[HistoryEntry]:
        where, args = ("WHERE job_id = ?", [job_id]) if job_id is not None else ("", [])
        runs = [
            _record(r)
            for r in self._db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs {where}"  # noqa: S608 - fixed SQL
                " ORDER BY created_at DESC, period_start DESC LIMIT ?",
                (*args, limit),
            )
        ]
        rows: list[Sequence[Any]] = []
        for i in range(0, len(runs), 500):  # SQLite bounds the variables of one statement
            ids = [r.run_id for r in runs[i : i + 500]]
            marks = ",".join("?" * len(ids))
            query = f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE run_id IN ({marks})"  # noqa: S608
            rows.extend(self._db.execute(f"{query} ORDER BY attempt DESC, fence DESC", ids))
        return history_entries(runs, rows)

    def prune(self, days: float, job_ids: Collection[str], keep: int | None = None) -> int:
        with self._write() as db:
            cutoff = self._now() - days * 86_400
            # One ranking of each job's finished rows (newest first); a row goes when it is old
            # or past the cap: O(n log n). The DELETE does not start with WITH: then Python's
            # sqlite3 would report no rowcount. Horizons live in `jobs`: no row is kept for one.
            return db.execute(
                "DELETE FROM runs WHERE run_id IN (WITH prunable AS (SELECT run_id, created_at,"
                " ROW_NUMBER() OVER (PARTITION BY job_id ORDER BY created_at DESC,"
                " period_start DESC) AS n FROM runs WHERE job_id IN (SELECT value FROM"
                " json_each(?)) AND state NOT IN ('pending', 'running', 'abandoned'))"
                " SELECT run_id FROM prunable WHERE created_at < ? OR n > ?)",
                (json.dumps(list(job_ids)), cutoff, NO_CAP if keep is None else keep),
            ).rowcount

    def close(self) -> None:
        self._db.close()
