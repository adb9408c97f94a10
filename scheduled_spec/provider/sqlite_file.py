"""Opening the SQLite ledger file: schema, pragmas, integrity check and quarantine.

At open, ``PRAGMA quick_check``; a file that fails it, or is not a database, is moved
aside to ``<name>.corrupt-<UTC timestamp>`` (with its ``-wal`` and ``-shm``) with an ERROR
log, and a fresh ledger starts (SPEC.md 10.13). `LedgerFile` notices the file deleted or
replaced under an open ledger.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import timezone
from pathlib import Path

from scheduled_spec.clock import Clock
from scheduled_spec.provider.ledger import (
    LedgerError,
    LedgerReplacedError,
    LedgerUnavailableError,
)

log = logging.getLogger("scheduled_spec.provider.ledger")

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    schedule TEXT NOT NULL,
    horizon_ms INTEGER NOT NULL,
    seen_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    every TEXT NOT NULL,
    period_key TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    last_period_key TEXT,
    last_period_start INTEGER,
    missed_count INTEGER NOT NULL DEFAULT 0,
    scheduled_at REAL,
    state TEXT NOT NULL,
    owner TEXT,
    lease_until REAL,
    fence INTEGER NOT NULL DEFAULT 1,
    attempt INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    finished_at REAL,
    error TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS runs_identity ON runs (job_id, period_key)
    WHERE kind != 'manual';
CREATE INDEX IF NOT EXISTS runs_latest ON runs (job_id, period_start);
CREATE INDEX IF NOT EXISTS runs_unfinished ON runs (job_id, state)
    WHERE state IN ('pending', 'running', 'abandoned');
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    fence INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    started_at REAL NOT NULL,
    duration REAL NOT NULL,
    error TEXT,
    output TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, attempt, fence)
);
"""


# Schema 1 to 2: a job's horizon was its newest scheduled, missed or skipped row; whether that
# row's start is a period's or a run's is not recorded, so the schedule is marked migrated
# ("every?") and the provider that next loads the job decides (SPEC.md 10.13.3).
MIGRATE_1_HORIZONS = """
INSERT OR IGNORE INTO jobs (job_id, schedule, horizon_ms, seen_at)
SELECT job_id, every || '?', MAX(COALESCE(last_period_start, period_start)) * 1000, MIN(created_at)
FROM runs WHERE kind != 'manual' GROUP BY job_id
"""


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _is_locked(exc: sqlite3.Error) -> bool:
    return "locked" in str(exc).lower()


def begin_write(db: sqlite3.Connection, path: Path) -> None:
    """``BEGIN IMMEDIATE``: wait up to the busy timeout for other writers.

    A file still locked then raises LedgerUnavailableError: another process holds the write
    lock far longer than a ledger write takes, and the same write may succeed later.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if _is_locked(exc):
            raise LedgerUnavailableError(
                f"{path}: the ledger is still locked after the busy timeout: {exc}"
            ) from exc
        raise


class LedgerFile:
    """The file an open SQLite ledger writes to (device and inode), checked at every write.

    A ledger file deleted or replaced while open is written on by the processes that had
    it open, and nobody else, while a process opening the path now starts another: two
    ledgers, every period run twice (issue 11). One stat per write notices it.
    """

    def __init__(self, path: Path) -> None:
        """Remember the file at `path` now, just after it was opened. Raises LedgerError."""
        self.path = path
        self.device, self.inode = self._identity("it was deleted while being opened")

    def _identity(self, was: str) -> tuple[int, int]:
        try:
            found = self.path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise LedgerReplacedError(
                f"{self.path}: the ledger file was deleted while in use ({was}); nothing more"
                " can be recorded in it: restart to open the ledger now at this path"
            ) from None
        except OSError as exc:
            raise LedgerUnavailableError(
                f"{self.path}: cannot check the ledger file: {exc}"
            ) from exc
        return found.st_dev, found.st_ino

    def check(self) -> None:
        """Raise LedgerReplacedError unless `path` still names the file opened."""
        was = f"inode {self.inode} on device {self.device}"
        device, inode = self._identity(f"it was {was}")
        if (device, inode) != (self.device, self.inode):
            raise LedgerReplacedError(
                f"{self.path}: the ledger file was replaced while in use ({was} by inode"
                f" {inode} on device {device}); nothing more can be recorded in the old one:"
                " restart to open the file now at this path"
            )

    def begin_write(self, db: sqlite3.Connection) -> None:
        """`begin_write`, checking the file before (a replaced file's ``-wal`` and ``-shm``
        may be the new one's) and after waiting for the lock (it may be replaced meanwhile)."""
        self.check()
        begin_write(db, self.path)
        try:
            self.check()
        except LedgerError:
            db.execute("ROLLBACK")
            raise


def connect(path: Path, busy_ms: int) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with a busy timeout."""
    # One thread at a time uses a ledger, but not always the one that opened it.
    db = sqlite3.connect(
        path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False
    )
    db.execute(f"PRAGMA busy_timeout = {busy_ms}")
    return db


def integrity_problem(db: sqlite3.Connection) -> str | None:
    """None when ``PRAGMA quick_check`` says ok, else what it found."""
    rows = db.execute("PRAGMA quick_check").fetchall()
    return None if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:5])


def open_database(path: Path, clock: Clock, busy_ms: int, synchronous: str) -> sqlite3.Connection:
    """Open (creating or quarantining as needed) and prepare the ledger file. Raises LedgerError."""
    db: sqlite3.Connection | None
    try:
        db = connect(path, busy_ms)
        problem = integrity_problem(db)
    except sqlite3.DatabaseError as exc:
        if not _is_corrupt(exc):
            kind = LedgerUnavailableError if _is_locked(exc) else LedgerError
            raise kind(f"{path}: cannot open the ledger: {exc}") from exc
        problem, db = str(exc), None
    if problem is None and db is not None:
        return prepare(db, path, synchronous, busy_ms)
    if db is not None:
        db.close()
    quarantine(path, clock, problem or "corrupt")
    return prepare(connect(path, busy_ms), path, synchronous, busy_ms)


def quarantine(path: Path, clock: Clock, problem: str) -> Path:
    """Move a corrupt ledger aside (never over an earlier one); return where it went."""
    stamp = clock.now().astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            source.replace(Path(f"{target}{suffix}"))
    log.error(
        "ledger %s is corrupt (%s): moved aside to %s; starting a fresh ledger",
        path,
        problem,
        target,
        extra={"event": "ledger-quarantined"},
    )
    return target


def prepare(
    db: sqlite3.Connection, path: Path, synchronous: str, busy_ms: int = 60_000
) -> sqlite3.Connection:
    """WAL, the synchronous level, foreign keys, and the schema (refusing a newer one).

    Switching a new file to WAL can fail with "database is locked" without waiting for the
    busy timeout while another process creates the same ledger (providers started
    together): that is retried with backoff, within the busy timeout.
    """
    deadline, delay = time.monotonic() + busy_ms / 1000, 0.01
    while True:
        try:
            _prepare_once(db, path, synchronous)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) and time.monotonic() + delay < deadline:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            db.close()
            kind = LedgerUnavailableError if _is_locked(exc) else LedgerError
            raise kind(f"{path}: cannot prepare the ledger: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            db.close()
            raise LedgerError(f"{path}: cannot prepare the ledger: {exc}") from exc
        return db


def _prepare_once(db: sqlite3.Connection, path: Path, synchronous: str) -> None:
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("BEGIN IMMEDIATE")
    for statement in filter(str.strip, SCHEMA.split(";")):
        db.execute(statement)
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None or int(row[0]) < SCHEMA_VERSION:
        if row is not None:  # schema 1 kept no horizons: each job's newest row was it
            db.execute("DROP INDEX IF EXISTS runs_unfinished")
            db.execute(MIGRATE_1_HORIZONS)
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
    elif int(row[0]) > SCHEMA_VERSION:
        db.execute("ROLLBACK")
        db.close()
        raise LedgerError(
            f"{path}: schema version {row[0]} is newer than this version"
            f" understands ({SCHEMA_VERSION}); upgrade scheduled-spec"
        )
    db.execute("COMMIT")
