"""Connecting to the PostgreSQL ledger: URL, connection, short transactions, schema version.

``postgresql://user@host:5432/db?schema=scheduled`` (``postgres://`` too). The ``schema``
query parameter (default ``scheduled``) names the PostgreSQL schema holding the tables; every
other parameter goes to libpq as written (``sslmode``, ``connect_timeout``, ...), with
short timeouts and TCP keepalives unless the URL sets its own.

Pooler-friendly on purpose: an autocommit connection, explicit short transactions, no
session-level advisory locks, no session settings, no server-side prepared statements. A
connection found dead is replaced on the next call.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors

from scheduled_spec.provider.ledger import LedgerError, LedgerNotFoundError, LedgerUnavailableError

SCHEMA_VERSION = 2
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
_RETRIES = 5  # deadlocks and serialization failures between replicas are retried
_RETRIED: tuple[type[psycopg.Error], ...] = (
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
)
# Creating the schema also retries what CREATE ... IF NOT EXISTS raises when someone creates
# the same objects without the creation lock (an operator, a migration tool): the next
# attempt, a new transaction, sees them committed and creates nothing.
_CREATE_RETRIED = (
    *_RETRIED,
    pg_errors.UniqueViolation,
    pg_errors.DuplicateObject,
    pg_errors.DuplicateTable,
    pg_errors.DuplicateSchema,
)

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.jobs (
    job_id text PRIMARY KEY,
    schedule text NOT NULL,
    horizon_ms bigint NOT NULL,
    seen_at double precision NOT NULL
);
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
CREATE INDEX IF NOT EXISTS runs_unfinished ON {s}.runs (job_id, state)
    WHERE state IN ('pending', 'running', 'abandoned');
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

# Schema 1 to 2 (see sqlite_file.MIGRATE_1_HORIZONS): horizons from each job's newest row.
_MIGRATE_1 = """
DROP INDEX IF EXISTS {s}.runs_unfinished;
INSERT INTO {s}.jobs (job_id, schedule, horizon_ms, seen_at)
SELECT job_id, MAX(every) || '?', MAX(COALESCE(last_period_start, period_start)) * 1000,
    MIN(created_at)
FROM {s}.runs WHERE kind <> 'manual' GROUP BY job_id ON CONFLICT DO NOTHING
"""

T = TypeVar("T")
Cursor = psycopg.Cursor[tuple[Any, ...]]


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


class Database:
    """One ledger schema on one server, used from one thread. Raises LedgerError."""

    def __init__(self, url: str) -> None:
        self._conninfo, self.schema, self.url = parse_url(url)
        self.s = f'"{self.schema}"'  # the quoted schema name, for SQL
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self.close()
        try:
            # prepare_threshold=None: no server-side prepared statements, which transaction-mode
            # poolers cannot route.
            conn = psycopg.connect(self._conninfo, autocommit=True, prepare_threshold=None)
        except psycopg.OperationalError as exc:
            raise LedgerUnavailableError(
                f"{self.url}: cannot connect to the ledger: {_summary(exc)}"
            ) from exc
        except psycopg.Error as exc:
            raise LedgerError(f"{self.url}: cannot connect to the ledger: {_summary(exc)}") from exc
        self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def _fail(self, what: str, exc: psycopg.Error) -> LedgerError:
        lost = self._conn is None or self._conn.broken or self._conn.closed
        if lost:
            self.close()  # the next call reconnects
        # OperationalError is what may pass: a lost connection, a deadlock or serialization
        # failure retried to the end, a lock or statement timeout, a server shutting down or
        # out of connections or disk. The rest (a missing privilege, ...) needs a person.
        transient = lost or isinstance(exc, psycopg.OperationalError)
        kind = LedgerUnavailableError if transient else LedgerError
        return kind(f"{self.url}: {what}: {_summary(exc)}")

    def _begin(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A connection inside a fresh transaction; a dead connection is replaced once.

        Retrying here is safe: nothing of the transaction reached the server yet.
        """
        conn = self._connection()
        try:
            conn.execute("BEGIN")
        except psycopg.OperationalError:
            self.close()
            conn = self._connection()
            conn.execute("BEGIN")
        return conn

    def transaction(
        self,
        what: str,
        work: Callable[[Cursor], T],
        retried: tuple[type[psycopg.Error], ...] = _RETRIED,
    ) -> T:
        """Run `work` in one short transaction; retry it on the `retried` errors (deadlock or
        serialization failure), up to 5 attempts in all."""
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
            except retried as exc:
                if attempt == _RETRIES - 1:
                    raise self._fail(what, exc) from exc
                continue
            except psycopg.Error as exc:
                raise self._fail(what, exc) from exc
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def read(self, what: str, work: Callable[[Cursor], T]) -> T:
        """Run a read (or an idempotent single statement); retried once on a dead connection."""
        for attempt in range(2):
            try:
                with self._connection().cursor() as cur:
                    return work(cur)
            except psycopg.OperationalError as exc:
                self.close()
                if attempt == 1:
                    raise self._fail(what, exc) from exc
            except psycopg.Error as exc:
                raise self._fail(what, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- schema ----------------------------------------------------------------------------

    def _version(self, cur: Cursor) -> int | None:
        # The catalog table itself, not to_regclass(): in the transaction that waited for the
        # creation lock, to_regclass answers from this backend's catalog cache, which does not
        # know yet of the schema another process created meanwhile (issue 11: of processes
        # started together, all but one failed on the meta table's primary key).
        cur.execute(
            "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = 'meta'",
            (self.schema,),
        )
        if cur.fetchone() is None:
            return None
        cur.execute(f"SELECT value FROM {self.s}.meta WHERE key = 'schema_version'")  # noqa: S608
        found = cur.fetchone()
        return None if found is None else int(found[0])

    def _check(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"{self.url}: schema version {version} is newer than this version"
                f" understands ({SCHEMA_VERSION}); upgrade scheduled-spec"
            )

    def _upgrade(self, cur: Cursor) -> None:
        """Schema 1 to 2, once, whoever comes first (SPEC.md 10.13.3)."""
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))
        if (self._version(cur) or 0) >= SCHEMA_VERSION:
            return
        # The new tables first; then the horizons; then the indexes the migration dropped.
        for script in (_SCHEMA, _MIGRATE_1, _SCHEMA):
            for statement in script.format(s=self.s).split(";"):
                cur.execute(statement)
        cur.execute(
            f"UPDATE {self.s}.meta SET value = %s WHERE key = 'schema_version'",  # noqa: S608
            (str(SCHEMA_VERSION),),
        )

    def prepare(self, create: bool) -> bool:
        """Check (and create when missing) the schema; True when this call created it."""
        version = self.read("cannot read the ledger's schema", self._version)
        if version is not None:
            self._check(version)
            if version < SCHEMA_VERSION:
                self.transaction("cannot upgrade the ledger's schema", self._upgrade)
            return False
        if not create:
            raise LedgerNotFoundError(
                f"{self.url}: no ledger schema {self.schema!r} yet; create it with"
                " `scheduled ledger init --ledger URL`"
            )

        def create_schema(cur: Cursor) -> tuple[bool, int]:
            # The lock comes before any DDL, CREATE SCHEMA included: CREATE ... IF NOT EXISTS
            # is not safe against a concurrent CREATE of the same object.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))
            found = self._version(cur)
            if found is not None:
                return False, found
            for statement in _SCHEMA.format(s=self.s).split(";"):
                cur.execute(statement)
            cur.execute(
                f"INSERT INTO {self.s}.meta (key, value) VALUES ('schema_version', %s)",  # noqa: S608
                (str(SCHEMA_VERSION),),
            )
            return True, SCHEMA_VERSION

        created, version = self.transaction(
            "cannot create the ledger's schema", create_schema, _CREATE_RETRIED
        )
        self._check(version)
        return created


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
