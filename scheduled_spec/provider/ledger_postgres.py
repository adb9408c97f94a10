"""The shared ledger: PostgreSQL through psycopg 3, for replicas on several hosts.

Opened for ``postgresql://`` and ``postgres://`` URLs (postgres_db.py: URL, connection,
schema). Every time it stores or compares (leases, created/finished) is the database
server's clock, so replicas with skewed clocks still agree on when a lease ends.

A claim is ``INSERT ... ON CONFLICT DO NOTHING`` keyed by (job ID, period key), one
statement; a take-over is an ``UPDATE`` conditional on the fence it read; heartbeats,
attempts and outcomes are single statements written only where the fence still matches.
No transaction is ever open while a job runs.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from typing import Any

from scheduled_spec.clock import Clock
from scheduled_spec.provider.ledger import (
    NO_CAP,
    Attempt,
    Claim,
    ClaimRequest,
    Gap,
    HistoryEntry,
    Kind,
    Latest,
    LedgerError,
    RunRecord,
    State,
    history_entries,
)
from scheduled_spec.provider.owner import Owner
from scheduled_spec.provider.postgres_db import Cursor, Database

# The server's clock, freshest reading (now() is the transaction's start).
_NOW = "extract(epoch from clock_timestamp())::float8"
_RUN_COLUMNS = (
    "run_id, job_id, kind, every, period_key, period_start, state, fence, attempt, owner,"
    " lease_until, scheduled_at, created_at, finished_at, error, last_period_key, missed_count"
)
_ATTEMPT_COLUMNS = "run_id, attempt, outcome, started_at, duration, error, output"


def _record(row: Sequence[Any]) -> RunRecord:
    return RunRecord(
        row[0], row[1], Kind(row[2]), row[3], row[4], row[5], State(row[6]), *row[7:17]
    )


class PostgresLedger:
    """A `Ledger` in one PostgreSQL schema. Use from one thread (the provider's loop).

    Raises LedgerError when the server cannot be reached or the schema is newer than this
    version knows; LedgerNotFoundError without `create` when the schema does not exist yet.
    """

    def __init__(self, url: str, *, clock: Clock, create: bool = True) -> None:
        self._db = Database(url)
        self.url, self.schema = self._db.url, self._db.schema
        self._clock = clock
        self._s = self._db.s
        try:
            self.created = self._db.prepare(create)
        except BaseException:
            self._db.close()
            raise
        self._read, self._transaction = self._db.read, self._db.transaction

    @classmethod
    def from_url(cls, url: str, *, clock: Clock) -> PostgresLedger:
        """Open the ledger a ``postgresql://`` URL names, creating its schema if needed."""
        return cls(url, clock=clock)

    # -- the Ledger protocol ---------------------------------------------------------------

    def now(self) -> float:
        def read(cur: Cursor) -> float:
            cur.execute(f"SELECT {_NOW}")
            row = cur.fetchone()
            assert row is not None  # noqa: S101 - SELECT of one value returns one row
            return float(row[0])

        return self._read("cannot read the database's clock", read)

    def latest(self) -> dict[str, Latest]:
        def read(cur: Cursor) -> dict[str, Latest]:
            cur.execute(
                "SELECT DISTINCT ON (job_id) job_id, every,"  # noqa: S608 - fixed SQL
                f" COALESCE(last_period_start, period_start) AS start FROM {self._s}.runs"
                " WHERE kind <> 'manual' ORDER BY job_id, start DESC"
            )
            return {job_id: Latest(every, start) for job_id, every, start in cur}

        return self._read("cannot read the ledger", read)

    def unfinished(self) -> list[RunRecord]:
        def read(cur: Cursor) -> list[RunRecord]:
            cur.execute(
                f"SELECT {_RUN_COLUMNS} FROM {self._s}.runs"  # noqa: S608 - fixed SQL
                " WHERE state IN ('running', 'abandoned') AND kind = 'scheduled'"
                " ORDER BY period_start"
            )
            return [_record(r) for r in cur]

        return self._read("cannot read the ledger", read)

    def claim(
        self, requests: Sequence[ClaimRequest], owner: Owner, lease_seconds: float
    ) -> list[Claim | RunRecord]:
        if not requests:
            return []
        # One lock order for every replica (job ID, period key): two batches cannot deadlock.
        order = sorted(
            range(len(requests)), key=lambda i: (requests[i].job_id, requests[i].period_key)
        )
        reqs = [requests[i] for i in order]
        ids = [secrets.token_hex(8) for _ in reqs]
        s = self._s

        def insert(cur: Cursor) -> set[str]:
            cur.execute(
                f"INSERT INTO {s}.runs (run_id, job_id, kind, every, period_key, period_start,"  # noqa: S608
                " scheduled_at, state, owner, lease_until, created_at)"
                f" SELECT u.run_id, u.job_id, 'scheduled', u.every, u.period_key, u.period_start,"
                f" u.scheduled_at, 'running', %s, {_NOW} + %s, {_NOW}"
                " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[],"
                " %s::float8[]) WITH ORDINALITY"
                " AS u(run_id, job_id, every, period_key, period_start, scheduled_at, n)"
                " ORDER BY u.n ON CONFLICT (job_id, period_key) WHERE kind <> 'manual'"
                " DO NOTHING RETURNING run_id",
                (
                    str(owner),
                    lease_seconds,
                    ids,
                    [r.job_id for r in reqs],
                    [r.every for r in reqs],
                    [r.period_key for r in reqs],
                    [r.period_start for r in reqs],
                    [r.scheduled_at for r in reqs],
                ),
            )
            return {row[0] for row in cur.fetchall()}

        # One statement, its own transaction: the common case (nothing held elsewhere) is one
        # round trip. Retried once on a dead connection; rows a lost reply did insert come
        # back as conflicts held by this very owner, and are this owner's claims.
        inserted = self._read("cannot claim", insert)
        results: dict[int, Claim | RunRecord] = {}
        others = []
        for n, (req, run_id) in enumerate(zip(reqs, ids, strict=True)):
            if run_id in inserted:
                results[n] = Claim.new(run_id, req)
            else:
                others.append(n)
        if others:
            taken = self._transaction(
                "cannot claim",
                lambda cur: self._held(cur, [reqs[n] for n in others], owner, lease_seconds),
            )
            results.update(zip(others, taken, strict=True))
        by_caller: list[Claim | RunRecord | None] = [None] * len(requests)
        for n, i in enumerate(order):
            by_caller[i] = results[n]
        return [r for r in by_caller if r is not None]

    def _held(
        self, cur: Cursor, reqs: list[ClaimRequest], owner: Owner, lease: float
    ) -> list[Claim | RunRecord]:
        """For periods whose row exists: take over the abandoned or expired, else the row."""
        cur.execute(
            f"SELECT {_RUN_COLUMNS}, {_NOW} FROM {self._s}.runs WHERE kind <> 'manual'"  # noqa: S608
            " AND (job_id, period_key) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
            ([r.job_id for r in reqs], [r.period_key for r in reqs]),
        )
        existing = {(r[1], r[4]): (_record(r), float(r[17])) for r in cur.fetchall()}
        results: list[Claim | RunRecord] = []
        for req in reqs:
            found = existing.get((req.job_id, req.period_key))
            if found is None:  # pragma: no cover - the insert conflicted with it
                raise LedgerError(f"{self.url}: claim conflicted with no row")
            record, now = found
            live = record.lease_until is not None and record.lease_until >= now
            expired = record.state is State.RUNNING and not live
            claim = None
            if record.kind is not Kind.SCHEDULED:
                pass
            elif record.state is State.RUNNING and live and record.owner == str(owner):
                claim = Claim.of(record)  # inserted by a retried statement whose reply was lost
            elif record.state is State.ABANDONED or expired:
                claim = self._bump(cur, record, owner, lease, expired_only=True)
            results.append(claim if claim is not None else record)
        return results

    def _bump(
        self, cur: Cursor, run: RunRecord, owner: Owner, lease: float, *, expired_only: bool
    ) -> Claim | None:
        # Decided again on the server, on the row as it is now: a heartbeat that renewed the
        # lease meanwhile, or another taker that bumped the fence first, wins.
        condition = f" AND (state = 'abandoned' OR lease_until < {_NOW})" if expired_only else ""
        cur.execute(
            f"UPDATE {self._s}.runs SET fence = fence + 1, owner = %s,"  # noqa: S608
            f" lease_until = {_NOW} + %s, state = 'running', finished_at = NULL"
            " WHERE run_id = %s AND fence = %s AND state IN ('running', 'abandoned')"
            f"{condition} RETURNING fence",
            (str(owner), lease, run.run_id, run.fence),
        )
        row = cur.fetchone()
        return None if row is None else Claim.of(run, fence=int(row[0]))

    def take_over(self, run: RunRecord, owner: Owner, lease_seconds: float) -> Claim | None:
        return self._transaction(
            "cannot take over",
            lambda cur: self._bump(cur, run, owner, lease_seconds, expired_only=False),
        )

    def claim_manual(self, request: ClaimRequest, owner: Owner, lease_seconds: float) -> Claim:
        run_id = secrets.token_hex(8)
        r = request

        def work(cur: Cursor) -> None:
            cur.execute(
                f"INSERT INTO {self._s}.runs (run_id, job_id, kind, every, period_key,"  # noqa: S608
                " period_start, scheduled_at, state, owner, lease_until, created_at)"
                f" VALUES (%s, %s, 'manual', %s, %s, %s, %s, 'running', %s, {_NOW} + %s, {_NOW})",
                (
                    run_id,
                    r.job_id,
                    r.every,
                    r.period_key,
                    r.period_start,
                    r.scheduled_at,
                    str(owner),
                    lease_seconds,
                ),
            )

        self._transaction("cannot record the manual run", work)
        return Claim.new(run_id, request, Kind.MANUAL)

    def heartbeat(self, claims: Sequence[Claim], lease_seconds: float) -> list[Claim]:
        if not claims:
            return []
        ordered = sorted(claims, key=lambda c: c.run_id)

        def work(cur: Cursor) -> set[str]:
            cur.execute(
                f"UPDATE {self._s}.runs r SET lease_until = {_NOW} + %s"  # noqa: S608
                " FROM unnest(%s::text[], %s::bigint[]) AS u(run_id, fence)"
                " WHERE r.run_id = u.run_id AND r.fence = u.fence AND r.state = 'running'"
                " RETURNING r.run_id",
                (lease_seconds, [c.run_id for c in ordered], [c.fence for c in ordered]),
            )
            return {row[0] for row in cur.fetchall()}

        # One statement, idempotent: safe to retry on a fresh connection.
        renewed = self._read("cannot renew leases", work)
        return [c for c in claims if c.run_id not in renewed]

    def _fenced(self, what: str, update: str, claim: Claim, attempt: Attempt, done: str) -> bool:
        """Update the run where the fence matches and record the attempt, in one statement.

        `update` sets the run's columns; `done` is the condition that holds once this very
        write went through (checked when a lost reply makes the outcome unknown).
        """
        s = self._s
        params = {
            "run_id": claim.run_id,
            "fence": claim.fence,
            "attempt": attempt.attempt,
            "outcome": str(attempt.outcome),
            "started_at": attempt.started_at,
            "duration": attempt.duration,
            "error": attempt.error,
            "output": attempt.output.replace("\x00", "\ufffd"),  # text columns refuse NUL
        }
        query = (
            f"WITH run AS (UPDATE {s}.runs SET {update}"  # noqa: S608 - fixed SQL
            " WHERE run_id = %(run_id)s AND fence = %(fence)s AND state = 'running'"
            f" RETURNING run_id) INSERT INTO {s}.attempts (run_id, attempt, fence, outcome,"
            " started_at, duration, error, output) SELECT run_id, %(attempt)s, %(fence)s,"
            " %(outcome)s, %(started_at)s, %(duration)s, %(error)s, %(output)s FROM run"
            " ON CONFLICT (run_id, attempt, fence) DO UPDATE SET outcome = EXCLUDED.outcome,"
            " started_at = EXCLUDED.started_at, duration = EXCLUDED.duration,"
            " error = EXCLUDED.error, output = EXCLUDED.output RETURNING 1"
        )
        check = (
            f"SELECT 1 FROM {s}.runs r JOIN {s}.attempts a USING (run_id)"  # noqa: S608
            " WHERE r.run_id = %(run_id)s AND r.fence = %(fence)s AND a.fence = %(fence)s"
            f" AND a.attempt = %(attempt)s AND a.outcome = %(outcome)s AND {done}"
        )
        tries = 0

        def write(cur: Cursor) -> bool:
            nonlocal tries
            tries += 1
            cur.execute(query, params)
            if cur.fetchone() is not None:
                return True
            if tries == 1:
                return False
            cur.execute(check, params)
            return cur.fetchone() is not None  # the first try went through, its reply lost

        return self._read(what, write)

    def record_attempt(self, claim: Claim, attempt: Attempt) -> bool:
        return self._fenced(
            "cannot record the attempt",
            "attempt = GREATEST(attempt, %(attempt)s)",
            claim,
            attempt,
            "r.state = 'running'",
        )

    def finish(self, claim: Claim, attempt: Attempt) -> bool:
        return self._fenced(
            "cannot record the outcome",
            f"attempt = GREATEST(attempt, %(attempt)s), state = %(outcome)s,"
            f" finished_at = {_NOW}, error = %(error)s, lease_until = NULL",
            claim,
            attempt,
            "r.state = %(outcome)s",
        )

    def _insert_final(self, row: dict[str, Any]) -> None:
        names = ", ".join(row)
        marks = ", ".join(["%s"] * len(row))
        query = (
            f"INSERT INTO {self._s}.runs ({names}, created_at, finished_at)"  # noqa: S608
            f" VALUES ({marks}, {_NOW}, {_NOW}) ON CONFLICT DO NOTHING"
        )
        values = tuple(row.values())
        # One idempotent statement: safe to retry on a fresh connection.
        self._read("cannot record missed periods", lambda cur: cur.execute(query, values))

    def record_gap(self, gap: Gap) -> None:
        self._insert_final(
            {
                "run_id": secrets.token_hex(8),
                "job_id": gap.job_id,
                "kind": str(Kind.MISSED),
                "every": gap.every,
                "period_key": gap.first_key,
                "period_start": gap.first_start,
                "state": str(State.MISSED),
                "last_period_key": gap.last_key,
                "last_period_start": gap.last_start,
                "missed_count": gap.count,
            }
        )

    def record_skipped(self, request: ClaimRequest) -> None:
        self._insert_final(
            {
                "run_id": secrets.token_hex(8),
                "job_id": request.job_id,
                "kind": str(Kind.SKIPPED),
                "every": request.every,
                "period_key": request.period_key,
                "period_start": request.period_start,
                "scheduled_at": request.scheduled_at,
                "state": str(State.SKIPPED),
                "missed_count": 1,
            }
        )

    def history(self, job_id: str | None = None, limit: int = 50) -> list[HistoryEntry]:
        def read(cur: Cursor) -> list[HistoryEntry]:
            where, args = ("WHERE job_id = %s", [job_id]) if job_id is not None else ("", [])
            cur.execute(
                f"SELECT {_RUN_COLUMNS} FROM {self._s}.runs {where}"  # noqa: S608 - fixed SQL
                " ORDER BY created_at DESC, period_start DESC LIMIT %s",
                (*args, limit),
            )
            runs = [_record(r) for r in cur.fetchall()]
            if not runs:
                return []
            cur.execute(
                f"SELECT {_ATTEMPT_COLUMNS} FROM {self._s}.attempts"  # noqa: S608
                " WHERE run_id = ANY(%s) ORDER BY attempt DESC, fence DESC",
                ([r.run_id for r in runs],),
            )
            return history_entries(runs, cur.fetchall())

        return self._read("cannot read the ledger", read)

    def prune(self, days: float, job_ids: Collection[str], keep: int | None = None) -> int:
        def work(cur: Cursor) -> int:
            # Each job's horizon once, one ranking of its prunable rows (newest first), and a
            # row goes when it is old or past the cap: O(n log n).
            cur.execute(
                "WITH top AS (SELECT job_id, MAX(COALESCE(last_period_start, period_start))"  # noqa: S608
                f" AS h FROM {self._s}.runs WHERE job_id = ANY(%(jobs)s) AND kind <> 'manual'"
                " GROUP BY job_id), prunable AS (SELECT r.run_id, r.created_at, ROW_NUMBER()"
                " OVER (PARTITION BY r.job_id ORDER BY r.created_at DESC, r.period_start DESC)"
                f" AS n FROM {self._s}.runs r LEFT JOIN top ON top.job_id = r.job_id"
                " WHERE r.job_id = ANY(%(jobs)s) AND r.state NOT IN ('running', 'abandoned')"
                " AND (r.kind = 'manual' OR COALESCE(r.last_period_start, r.period_start)"
                f" < top.h)) DELETE FROM {self._s}.runs WHERE run_id IN (SELECT run_id FROM"
                f" prunable WHERE created_at < {_NOW} - %(age)s OR n > %(keep)s)",
                {
                    "jobs": list(job_ids),
                    "age": days * 86_400,
                    "keep": NO_CAP if keep is None else keep,
                },
            )
            return cur.rowcount

        return self._transaction("cannot prune the ledger", work)

    def close(self) -> None:
        self._db.close()
