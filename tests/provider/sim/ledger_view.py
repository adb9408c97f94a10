"""The model's own read-only look at the ledger's `runs` table (a connection of its own).

New rows are read by rowid as providers write them; a state the model must know afresh (a
run recorded failed, a run final at the end) is looked up by key.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

from tests.provider.sim.schedules import parse_instant_key

FINAL = ("succeeded", "failed", "timed_out", "skipped", "missed")


class Row(NamedTuple):
    """One row of `runs`, as the model needs it."""

    run_id: str
    job_id: str
    kind: str
    every: str
    period_key: str
    period_start: int
    last_key: str | None
    last_start: int | None
    state: str
    scheduled_at: float | None


def gap_range(gap: Row) -> tuple[int, int]:
    """The `period_start` of the first and of the last run a missed row counts."""
    last = gap.last_start
    if last is None:
        ms = parse_instant_key(gap.last_key or gap.period_key)
        last = gap.period_start if ms is None else ms // 1_000
    return gap.period_start, last


class LedgerView:
    """Scheduled and skipped rows by (job, period key); missed rows by job."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.columns: set[str] = set()
        self.data_version: int | None = None
        self.rows: dict[tuple[str, str], Row] = {}
        self.gaps: dict[str, list[Row]] = defaultdict(list)
        self.seen: set[str] = set()
        self.rowid = 0

    def connect(self) -> sqlite3.Connection | None:
        """The connection, once the first provider created the file."""
        if self.db is None and self.path.exists():
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60)
        return self.db

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    def read(self, *, everything: bool = False) -> list[Row] | None:
        """The rows written since the last read (None: the ledger did not change);
        `everything` reads every row again, and returns only those never seen."""
        db = self.connect()
        if db is None:
            return None
        version = db.execute("PRAGMA data_version").fetchone()[0]
        if version == self.data_version and not everything:
            return None
        self.data_version = version
        if not self.columns:
            self.columns = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
            if not self.columns:
                self.data_version = None  # no schema yet
                return None
        last_start = "last_period_start" if "last_period_start" in self.columns else "NULL"
        query = (
            "SELECT rowid, run_id, job_id, kind, every, period_key, period_start,"  # noqa: S608
            f" last_period_key, {last_start}, state, scheduled_at FROM runs"
            " WHERE kind != 'manual' AND rowid > ? ORDER BY rowid"
        )
        if everything:
            self.rows, self.gaps, self.rowid = {}, defaultdict(list), 0
        fresh = []
        for rowid, *values in db.execute(query, (self.rowid,)):
            row = Row(*values)
            self.rowid = max(self.rowid, rowid)
            if row.kind == "missed":
                self.gaps[row.job_id].append(row)
            else:
                self.rows[(row.job_id, row.period_key)] = row
            if row.run_id not in self.seen:
                self.seen.add(row.run_id)
                fresh.append(row)
        return fresh

    def state(self, key: tuple[str, str]) -> tuple[str, int, str] | None:
        """(state, fence, every) of the scheduled row of (job ID, period key), read now."""
        db = self.connect()
        if db is None:
            return None
        found = db.execute(
            "SELECT state, fence, every FROM runs"
            " WHERE job_id = ? AND period_key = ? AND kind != 'manual'",
            key,
        ).fetchone()
        return None if found is None else (str(found[0]), int(found[1]), str(found[2]))

    def unfinished(self) -> int:
        """How many rows are not final (pending, running, abandoned)."""
        db = self.connect()
        if db is None:
            return 0
        marks = ", ".join("?" * len(FINAL))
        query = f"SELECT COUNT(*) FROM runs WHERE kind != 'manual' AND state NOT IN ({marks})"  # noqa: S608
        return int(db.execute(query, FINAL).fetchone()[0])
