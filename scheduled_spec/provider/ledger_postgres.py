"""The shared ledger: PostgreSQL through psycopg 3, for replicas on several hosts.

``postgresql://user@host:5432/db?schema=scheduled`` (``postgres://`` too). The ``schema``
query parameter (default ``scheduled``) names the PostgreSQL schema holding the tables; every
other parameter goes to libpq as written (``sslmode``, ``connect_timeout``, ...).

The provider creates and versions its schema itself (a ``meta`` table) and refuses a newer
version than it knows. Every time it stores or compares (leases, created/finished) is the
database server's clock, so replicas with skewed clocks still agree on when a lease ends.

Pooler-friendly on purpose: an autocommit connection, explicit short transactions (never
open while a job runs), no session-level advisory locks, no session settings, no server-side
prepared statements. A claim is ``INSERT ... ON CONFLICT DO NOTHING`` keyed by (job ID,
period key); a take-over is an ``UPDATE`` conditional on the fence it read; heartbeats,
attempts and outcomes are written only where the fence still matches.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors

from scheduled_spec.clock import Clock
from scheduled_spec.provider.ledger import (
    Attempt,
    Claim,
    ClaimRequest,
    Gap,
    HistoryEntry,
    Kind,
    Latest,
    LedgerError,
    LedgerNotFoundError,
    Owner,
    RunRecord,
    State,
)

SCHEMA_VERSION = 1
DEFAULT_SCHEMA = "scheduled"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# Any 64-bit number: held only for the transaction that creates the schema, so that
# replicas starting together do not race on CREATE TABLE IF NOT EXISTS.
_CREATE_LOCK = 0x5C4ED01ED
# libpq settings used unless the URL sets them: fail fast instead of hanging, so that the
# provider's self-fencing (SPEC.md 10.4) sees an unreachable database in time.
_DEFAULTS = {
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
    "application_name": "scheduled-spec",
}
# The server's clock, freshest reading (now() is the transaction's start).
_NOW = "extract(epoch from clock_timestamp())::float8"
_RUN_COLUMNS = (
    "run_id, job_id, kind, every, period_key, period_start, state, fence, attempt, owner,"
    " lease_until, scheduled_at, created_at, finished_at, error, last_period_key, missed_count"
)
_ATTEMPT_COLUMNS = "run_id, attempt, outcome, started_at, duration, error, output"
_RETRIES = 5  # deadlocks and serialization failures between replicas are retried

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.runs (
    run_id text PRIMARY KEY,
    job_id text NOT NULL,
    kind text NOT NULL,
    every text NOT NULL,
    period_key text NOT NULL,
    period_start bigint NOT NULL,
    last_period_key text,
    last_period_start bigint,
    missed_count bigint NOT NULL DEFAULT 0,
    scheduled_at double precision,
    state text NOT NULL,
    owner text,
    lease_until double precision,
    fence bigint NOT NULL DEFAULT 1,
    attempt integer NOT NULL DEFAULT 0,
    created_at double precision NOT NULL,
    finished_at double precision,
    error text
);
CREATE UNIQUE INDEX IF NOT EXISTS runs_identity ON {s}.runs (job_id, period_key)
    WHERE kind <> 'manual';
CREATE INDEX IF NOT EXISTS runs_latest ON {s}.runs (job_id, period_start);
CREATE INDEX IF NOT EXISTS runs_unfinished ON {s}.runs (state)
    WHERE state IN ('running', 'abandoned');
CREATE INDEX IF NOT EXISTS runs_created ON {s}.runs (created_at);
CREATE TABLE IF NOT EXISTS {s}.attempts (
    run_id text NOT NULL REFERENCES {s}.runs (run_id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    fence bigint NOT NULL,
    outcome text NOT NULL,
    started_at double precision NOT NULL,
    duration double precision NOT NULL,
    error text,
    output text NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, attempt, fence)
)
"""

T = TypeVar("T")
Cursor = psycopg.Cursor[tuple[Any, ...]]


def _record(row: Sequence[Any]) -> RunRecord:
    return RunRecord(
        row[0], row[1], Kind(row[2]), row[3], row[4], row[5], State(row[6]), *row[7:17]
    )


def parse_url(url: str) -> tuple[str, str, str]:
    """(libpq connection URL, schema name, URL safe to log). Raises LedgerError."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.netloc + parts.path:
        raise LedgerError(f"expected postgresql://USER@HOST:PORT/DATABASE, got {url!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = DEFAULT_SCHEMA
    options = []
    for name, value in query:
        if name == "schema":
            schema = value
        else:
            options.append((name, value))
    if not _IDENTIFIER.fullmatch(schema):
        raise LedgerError(
            f"{url!r}: schema must be a plain PostgreSQL name (letters, digits, _;"
            f" at most 63), got {schema!r}"
        )
    given = {name for name, _ in options}
    options += [(k, v) for k, v in _DEFAULTS.items() if k not in given]
    conninfo = urlunsplit(parts._replace(query=urlencode(options)))
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    shown = urlunsplit(parts._replace(netloc=netloc, query=f"schema={schema}"))
    return conninfo, schema, shown


class PostgresLedger:
    """A `Ledger` in one PostgreSQL schema. Use from one thread (the provider's loop).

    Raises LedgerError when the server cannot be reached, the schema is newer than this
    version knows, or (with ``create=False``) the schema does not exist yet.
    """

    def __init__(self, url: str, *, clock: Clock, create: bool = True) -> None:
        self._conninfo, self.schema, self.url = parse_url(url)
        self._clock = clock
        self._s = f'"{self.schema}"'
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        try:
            self.created = self._prepare(create)
        except BaseException:
            self._drop()
            raise

    @classmethod
    def from_url(cls, url: str, *, clock: Clock) -> PostgresLedger:
        """Open the ledger a ``postgresql://`` URL names, creating its schema if needed."""
        return cls(url, clock=clock)

    # -- connection and transactions -------------------------------------------------------

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._drop()
        try:
            # prepare_threshold=None: no server-side prepared statements, which transaction-mode
            # poolers cannot route.
            conn = psycopg.connect(self._conninfo, autocommit=True, prepare_threshold=None)
        except psycopg.Error as exc:
            raise LedgerError(f"{self.url}: cannot connect to the ledger: {_summary(exc)}") from exc
        self._conn = conn
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def _fail(self, what: str, exc: psycopg.Error) -> LedgerError:
        if self._conn is not None and (self._conn.broken or self._conn.closed):
            self._drop()  # the next call reconnects
        return LedgerError(f"{self.url}: {what}: {_summary(exc)}")

    def _begin(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A connection inside a fresh transaction; a dead connection is replaced once.

        Retrying here is safe: nothing of the transaction reached the server yet.
        """
        conn = self._connection()
        try:
            conn.execute("BEGIN")
        except psycopg.OperationalError:
            self._drop()
            conn = self._connection()
            conn.execute("BEGIN")
        return conn

    def _transaction(self, what: str, work: Callable[[Cursor], T]) -> T:
        """Run `work` in one short transaction; retry it on deadlock or serialization failure."""
        for attempt in range(_RETRIES):
            try:
                conn = self._begin()
                try:
                    with conn.cursor() as cur:
                        result = work(cur)
                except BaseException:
                    if not conn.broken:
                        with contextlib.suppress(psycopg.Error):
                            conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                if attempt == _RETRIES - 1:
                    raise
                continue
            except psycopg.Error as exc:
                raise self._fail(what, exc) from exc
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, what: str, work: Callable[[Cursor], T]) -> T:
        """Run a read (or an idempotent single statement); retried once on a dead connection."""
        for attempt in range(2):
            try:
                with self._connection().cursor() as cur:
                    return work(cur)
            except psycopg.OperationalError as exc:
                self._drop()
                if attempt == 1:
                    raise self._fail(what, exc) from exc
            except psycopg.Error as exc:
                raise self._fail(what, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- schema ----------------------------------------------------------------------------

    def _version(self, cur: Cursor) -> int | None:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{self._s}.meta",))
        row = cur.fetchone()
        if row is None or not row[0]:
            return None
        cur.execute(f"SELECT value FROM {self._s}.meta WHERE key = 'schema_version'")  # noqa: S608 - fixed SQL
        found = cur.fetchone()
        return None if found is None else int(found[0])

    def _check(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"{self.url}: schema version {version} is newer than this version"
                f" understands ({SCHEMA_VERSION}); upgrade scheduled-spec"
            )

    def _prepare(self, create: bool) -> bool:
        """Check (and create when missing) the schema; True when this call created it."""
        version = self._read("cannot read the ledger's schema", self._version)
        if version is not None:
            self._check(version)
            return False
        if not create:
            raise LedgerNotFoundError(
                f"{self.url}: no ledger schema {self.schema!r} yet; create it with"
                " `scheduled ledger init --ledger URL`"
            )

        def create_schema(cur: Cursor) -> tuple[bool, int]:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))
            found = self._version(cur)
            if found is not None:
                return False, found
            for statement in _SCHEMA.format(s=self._s).split(";"):
                cur.execute(statement)
            cur.execute(
                f"INSERT INTO {self._s}.meta (key, value) VALUES ('schema_version', %s)",  # noqa: S608
                (str(SCHEMA_VERSION),),
            )
            return True, SCHEMA_VERSION

        created, version = self._transaction("cannot create the ledger's schema", create_schema)
        self._check(version)
        return created

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

        def work(cur: Cursor) -> dict[int, Claim | RunRecord]:
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
            inserted = {row[0] for row in cur.fetchall()}
            results: dict[int, Claim | RunRecord] = {}
            others = []
            for n, (req, run_id) in enumerate(zip(reqs, ids, strict=True)):
                if run_id in inserted:
                    results[n] = Claim(
                        run_id,
                        req.job_id,
                        req.every,
                        req.period_key,
                        req.period_start,
                        req.scheduled_at,
                        1,
                        0,
                    )
                else:
                    others.append(n)
            if not others:
                return results
            cur.execute(
                f"SELECT {_RUN_COLUMNS}, {_NOW} FROM {s}.runs WHERE kind <> 'manual'"  # noqa: S608
                " AND (job_id, period_key) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                ([reqs[n].job_id for n in others], [reqs[n].period_key for n in others]),
            )
            rows = cur.fetchall()
            existing = {(r[1], r[4]): (_record(r), float(r[17])) for r in rows}
            for n in others:
                found = existing.get((reqs[n].job_id, reqs[n].period_key))
                if found is None:  # pragma: no cover - the insert conflicted with it
                    raise LedgerError(f"{self.url}: claim conflicted with no row")
                record, now = found
                expired = (
                    record.state is State.RUNNING
                    and record.lease_until is not None
                    and record.lease_until < now
                )
                claim = None
                if record.kind is Kind.SCHEDULED and (record.state is State.ABANDONED or expired):
                    claim = self._bump(cur, record, owner, lease_seconds, expired_only=True)
                results[n] = claim if claim is not None else record
            return results

        by_sorted = self._transaction("cannot claim", work)
        results: list[Claim | RunRecord | None] = [None] * len(requests)
        for n, i in enumerate(order):
            results[i] = by_sorted[n]
        return [r for r in results if r is not None]

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
        if row is None:
            return None
        return Claim(
            run.run_id,
            run.job_id,
            run.every,
            run.period_key,
            run.period_start,
            run.scheduled_at or run.period_start,
            int(row[0]),
            run.attempt,
            taken_over=True,
        )

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
        return Claim(
            run_id,
            r.job_id,
            r.every,
            r.period_key,
            r.period_start,
            r.scheduled_at,
            1,
            0,
            Kind.MANUAL,
        )

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

    def _attempt(self, cur: Cursor, claim: Claim, attempt: Attempt) -> None:
        cur.execute(
            f"INSERT INTO {self._s}.attempts (run_id, attempt, fence, outcome, started_at,"  # noqa: S608
            " duration, error, output) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (run_id, attempt, fence) DO UPDATE SET outcome = EXCLUDED.outcome,"
            " started_at = EXCLUDED.started_at, duration = EXCLUDED.duration,"
            " error = EXCLUDED.error, output = EXCLUDED.output",
            (
                claim.run_id,
                attempt.attempt,
                claim.fence,
                str(attempt.outcome),
                attempt.started_at,
                attempt.duration,
                attempt.error,
                attempt.output.replace("\x00", "\ufffd"),  # text columns refuse NUL
            ),
        )

    def record_attempt(self, claim: Claim, attempt: Attempt) -> bool:
        def work(cur: Cursor) -> bool:
            cur.execute(
                f"UPDATE {self._s}.runs SET attempt = GREATEST(attempt, %s)"  # noqa: S608
                " WHERE run_id = %s AND fence = %s AND state = 'running' RETURNING 1",
                (attempt.attempt, claim.run_id, claim.fence),
            )
            if cur.fetchone() is None:
                return False
            self._attempt(cur, claim, attempt)
            return True

        return self._transaction("cannot record the attempt", work)

    def finish(self, claim: Claim, attempt: Attempt) -> bool:
        def work(cur: Cursor) -> bool:
            cur.execute(
                f"UPDATE {self._s}.runs SET attempt = GREATEST(attempt, %s), state = %s,"  # noqa: S608
                f" finished_at = {_NOW}, error = %s, lease_until = NULL"
                " WHERE run_id = %s AND fence = %s AND state = 'running' RETURNING 1",
                (attempt.attempt, str(attempt.outcome), attempt.error, claim.run_id, claim.fence),
            )
            if cur.fetchone() is None:
                return False
            self._attempt(cur, claim, attempt)
            return True

        return self._transaction("cannot record the outcome", work)

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
            attempts: dict[str, list[Attempt]] = {}
            if runs:
                cur.execute(
                    f"SELECT {_ATTEMPT_COLUMNS} FROM {self._s}.attempts"  # noqa: S608
                    " WHERE run_id = ANY(%s) ORDER BY attempt DESC, fence DESC",
                    ([r.run_id for r in runs],),
                )
                for run_id, number, outcome, started, duration, error, output in cur:
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

        return self._read("cannot read the ledger", read)

    def prune(self, days: float, job_ids: Collection[str]) -> int:
        def work(cur: Cursor) -> int:
            cur.execute(
                f"DELETE FROM {self._s}.runs r WHERE r.job_id = ANY(%s)"  # noqa: S608
                " AND r.state NOT IN ('running', 'abandoned')"
                f" AND r.created_at < {_NOW} - %s AND (r.kind = 'manual'"
                " OR COALESCE(r.last_period_start, r.period_start) < (SELECT"
                " MAX(COALESCE(o.last_period_start, o.period_start)) FROM"
                f" {self._s}.runs o WHERE o.job_id = r.job_id AND o.kind <> 'manual'))",
                (list(job_ids), days * 86_400),
            )
            return cur.rowcount

        return self._transaction("cannot prune the ledger", work)

    def close(self) -> None:
        self._drop()


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
