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
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

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
    RunRecord,
    State,
    history_entries,
)
from scheduled_spec.provider.obligations import claimable, overlap_skips
from scheduled_spec.provider.owner import Owner
from scheduled_spec.provider.postgres_db import Cursor, Database

# The server's clock, freshest reading (now() is the transaction's start).
_NOW = "extract(epoch from clock_timestamp())::float8"
_RUN_COLUMNS = (
    "run_id, job_id, kind, every, period_key, period_start, state, fence, attempt, owner,"
    " lease_until, scheduled_at, created_at, finished_at, error, last_period_key, missed_count"
)
_ATTEMPT_COLUMNS = "run_id, attempt, outcome, started_at, duration, error, output"


def _due_row(request: ClaimRequest, *, skipped: bool = False) -> dict[str, Any]:
    """The row of a run come due: pending, or skipped by its job's `overlap`."""
    r = request
    return {
        "run_id": secrets.token_hex(8),
        "job_id": r.job_id,
        "kind": str(Kind.SKIPPED if skipped else Kind.SCHEDULED),
        "every": r.every,
        "period_key": r.period_key,
        "period_start": r.period_start,
        "scheduled_at": r.scheduled_at,
        "state": str(State.SKIPPED if skipped else State.PENDING),
        "missed_count": int(skipped),
        "owner": None,
        "fence": 0,  # a claim makes it 1: an attempt's fence counts its claims
    }


def _gap_row(gap: Gap) -> dict[str, Any]:
    """The row of one gap of missed periods."""
    return {
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

    def horizons(self) -> dict[str, Horizon]:
        def read(cur: Cursor) -> dict[str, Horizon]:
            cur.execute(f"SELECT job_id, schedule, horizon_ms FROM {self._s}.jobs")  # noqa: S608
            return {job_id: Horizon(schedule, ms) for job_id, schedule, ms in cur}

        return self._read("cannot read the ledger", read)

    def _lock(self, cur: Cursor, job_ids: Iterable[str]) -> None:
        """Hold each job's lock until the transaction ends; one order for every replica.

        Every write that decides for a job (first sight, advance, claim) holds it: the
        overlap policy and one-attempt-at-a-time are decided on the ledger, not per process.
        """
        cur.execute(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT"
            " hashtextextended(%s || j, 0) AS k FROM unnest(%s::text[]) AS j ORDER BY k) AS l",
            (f"{self.schema}/", list(job_ids)),
        )

    def see(self, first: Mapping[str, Horizon]) -> dict[str, Horizon]:
        if not first:
            return {}
        s = self._s

        def work(cur: Cursor) -> dict[str, Horizon]:
            self._lock(cur, first)
            ids = list(first)
            cur.execute(
                f"INSERT INTO {s}.jobs AS j (job_id, schedule, horizon_ms, seen_at)"  # noqa: S608
                f" SELECT u.job_id, u.schedule, u.ms, {_NOW}"
                " FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS u(job_id, schedule, ms)"
                " ON CONFLICT (job_id) DO UPDATE SET schedule = EXCLUDED.schedule,"
                " horizon_ms = EXCLUDED.horizon_ms, seen_at = EXCLUDED.seen_at"
                " WHERE j.schedule <> EXCLUDED.schedule",
                (ids, [h.schedule for h in first.values()], [h.ms for h in first.values()]),
            )
            cur.execute(
                f"SELECT job_id, schedule, horizon_ms FROM {s}.jobs WHERE job_id = ANY(%s)",  # noqa: S608
                (ids,),
            )
            return {job_id: Horizon(schedule, ms) for job_id, schedule, ms in cur.fetchall()}

        return self._transaction("cannot record first sight", work)

    def advance(self, steps: Sequence[Advance]) -> list[Advanced]:
        if not steps:
            return []
        s = self._s

        def work(cur: Cursor) -> list[Advanced]:
            ids = [step.job_id for step in steps]
            self._lock(cur, ids)
            cur.execute(
                f"SELECT job_id, schedule, horizon_ms FROM {s}.jobs WHERE job_id = ANY(%s)",  # noqa: S608
                (ids,),
            )
            horizons = {job_id: Horizon(sch, ms) for job_id, sch, ms in cur.fetchall()}
            cur.execute(
                f"SELECT job_id, COUNT(*) FILTER (WHERE state = 'running'),"  # noqa: S608
                f" COUNT(*) FILTER (WHERE state <> 'running') FROM {s}.runs"
                " WHERE job_id = ANY(%s) AND kind = 'scheduled'"
                " AND state IN ('pending', 'running', 'abandoned') GROUP BY job_id",
                (ids,),
            )
            load = {job_id: (running, queued) for job_id, running, queued in cur.fetchall()}
            results, rows, moved = [], [], []
            for step in steps:
                found = horizons.get(step.job_id)
                if found != Horizon(step.schedule, step.since):
                    results.append(Advanced(False, horizon=found))
                    continue
                horizons[step.job_id] = Horizon(step.schedule, step.until)
                running, queued = load.get(step.job_id, (0, 0))
                skip = overlap_skips(step.overlap, running, queued, len(step.runs) > 1)
                load[step.job_id] = (running, queued + (0 if skip else len(step.runs)))
                if step.gap is not None:
                    rows.append(_gap_row(step.gap))
                rows.extend(_due_row(req, skipped=skip) for req in step.runs)
                moved.append((step.job_id, step.until))
                results.append(Advanced(True, () if skip else step.runs, step.runs if skip else ()))
            for row in rows:
                self._insert_row(cur, row)
            if moved:
                cur.execute(
                    f"UPDATE {s}.jobs j SET horizon_ms = u.ms"  # noqa: S608
                    " FROM unnest(%s::text[], %s::bigint[]) AS u(job_id, ms)"
                    " WHERE j.job_id = u.job_id",
                    ([m[0] for m in moved], [m[1] for m in moved]),
                )
            return results

        return self._transaction("cannot record what is due", work)

    def unfinished(self) -> list[RunRecord]:
        def read(cur: Cursor) -> list[RunRecord]:
            cur.execute(
                f"SELECT {_RUN_COLUMNS} FROM {self._s}.runs"  # noqa: S608 - fixed SQL
                " WHERE state IN ('pending', 'running', 'abandoned') AND kind = 'scheduled'"
                " ORDER BY period_start, scheduled_at"
            )
            return [_record(r) for r in cur]

        return self._read("cannot read the ledger", read)

    def claim(
        self,
        requests: Sequence[ClaimRequest],
        owner: Owner,
        lease_seconds: float,
        *,
        expired: bool = True,
    ) -> list[Claim | RunRecord]:
        if not requests:
            return []
        s = self._s

        def work(cur: Cursor) -> list[Claim | RunRecord]:
            self._lock(cur, [r.job_id for r in requests])
            cur.execute(
                f"SELECT {_RUN_COLUMNS} FROM {s}.runs WHERE kind <> 'manual'"  # noqa: S608
                " AND (job_id, period_key) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                ([r.job_id for r in requests], [r.period_key for r in requests]),
            )
            existing = {(r[1], r[4]): _record(r) for r in cur.fetchall()}
            cur.execute(
                f"SELECT job_id, run_id FROM {s}.runs WHERE job_id = ANY(%s)"  # noqa: S608
                " AND kind = 'scheduled' AND state = 'running'",
                (list({r.job_id for r in requests}),),
            )
            running: dict[str, set[str]] = {}
            for job_id, run_id in cur.fetchall():
                running.setdefault(job_id, set()).add(run_id)
            cur.execute(f"SELECT {_NOW}")
            now = float((cur.fetchone() or (0.0,))[0])
            results: list[Claim | RunRecord] = []
            for req in requests:
                row = existing.get((req.job_id, req.period_key))
                others = running.setdefault(req.job_id, set()) - {row.run_id if row else ""}
                busy = req.exclusive and bool(others)
                if row is None:  # not recorded due first (a test, an older replica)
                    fresh = _due_row(req)
                    if not busy:
                        fresh.update(state=str(State.RUNNING), owner=str(owner), fence=1)
                    self._insert_row(cur, fresh, lease=None if busy else lease_seconds)
                    if busy:
                        results.append(self._run(cur, fresh["run_id"]))
                        continue
                    running[req.job_id].add(fresh["run_id"])
                    results.append(Claim.new(fresh["run_id"], req))
                    continue
                claim = None
                if not busy and claimable(row, now, expired):
                    claim = self._bump(cur, row, owner, lease_seconds, claiming=True)
                if claim is not None:
                    running[req.job_id].add(row.run_id)
                results.append(claim if claim is not None else row)
            return results

        return self._transaction("cannot claim", work)

    def _bump(
        self, cur: Cursor, run: RunRecord, owner: Owner, lease: float, *, claiming: bool
    ) -> Claim | None:
        # Decided again on the server, on the row as it is now: a heartbeat that renewed the
        # lease meanwhile, or another taker that bumped the fence first, wins.
        condition = f" AND (state <> 'running' OR lease_until < {_NOW})" if claiming else ""
        cur.execute(
            f"UPDATE {self._s}.runs SET fence = fence + 1, owner = %s,"  # noqa: S608
            f" lease_until = {_NOW} + %s, state = 'running', finished_at = NULL"
            " WHERE run_id = %s AND fence = %s AND state IN ('pending', 'running', 'abandoned')"
            f"{condition} RETURNING fence",
            (str(owner), lease, run.run_id, run.fence),
        )
        row = cur.fetchone()
        return None if row is None else Claim.of(run, fence=int(row[0]))

    def _run(self, cur: Cursor, run_id: str) -> RunRecord:
        cur.execute(f"SELECT {_RUN_COLUMNS} FROM {self._s}.runs WHERE run_id = %s", (run_id,))  # noqa: S608
        row = cur.fetchone()
        if row is None:  # pragma: no cover - read in the transaction that wrote it
            raise LedgerError(f"{self.url}: run {run_id} vanished")
        return _record(row)

    def _insert_row(self, cur: Cursor, row: dict[str, Any], lease: float | None = None) -> None:
        """Insert one run row unless its identity exists; times from the server's clock."""
        names = ", ".join(row)
        marks = ", ".join(["%s"] * len(row))
        finished = f", {_NOW}" if row["state"] in (State.MISSED, State.SKIPPED) else ", NULL"
        cur.execute(
            f"INSERT INTO {self._s}.runs ({names}, created_at, finished_at, lease_until)"  # noqa: S608
            f" VALUES ({marks}, {_NOW}{finished}, {_NOW} + %s) ON CONFLICT DO NOTHING",
            (*row.values(), lease),
        )

    def take_over(self, run: RunRecord, owner: Owner, lease_seconds: float) -> Claim | None:
        return self._transaction(
            "cannot take over",
            lambda cur: self._bump(cur, run, owner, lease_seconds, claiming=False),
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
            # One ranking of each job's finished rows (newest first); a row goes when it is old
            # or past the cap: O(n log n). Horizons live in `jobs`: no row is kept for one.
            cur.execute(
                "WITH prunable AS (SELECT run_id, created_at, ROW_NUMBER() OVER (PARTITION BY"  # noqa: S608
                " job_id ORDER BY created_at DESC, period_start DESC) AS n"
                f" FROM {self._s}.runs WHERE job_id = ANY(%(jobs)s)"
                " AND state NOT IN ('pending', 'running', 'abandoned'))"
                f" DELETE FROM {self._s}.runs WHERE run_id IN (SELECT run_id FROM"
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
