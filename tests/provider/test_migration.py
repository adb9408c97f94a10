"""A ledger written by schema 1 (before first sight and pending runs were recorded) is
upgraded in place, and its jobs keep their horizons (SPEC.md 10.13.3).

The schema 1 DDL below is that version's, frozen: the format on disk this release must read.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from scheduled_spec.cadence import Cadence, period_key
from scheduled_spec.loader import load
from scheduled_spec.provider.config import ProviderConfig
from scheduled_spec.provider.inline import InlineRunner
from scheduled_spec.provider.ledger import Horizon, open_ledger
from scheduled_spec.provider.loop import Provider
from scheduled_spec.slots import slot_offset
from tests.provider.fakes import FakeClock
from tests.provider.helpers import make_project
from tests.provider.postgres import execute, fresh_schema

DAY0 = 1_780_185_600  # 2026-05-31T00:00:00Z

SQLITE_1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
CREATE INDEX IF NOT EXISTS runs_unfinished ON runs (state) WHERE state IN ('running', 'abandoned');
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


POSTGRES_1 = """
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


# One day job that ran 2026-05-31, as schema 1 stored it.
ROW = (
    "INSERT INTO {runs} (run_id, job_id, kind, every, period_key, period_start, state,"
    " fence, attempt, created_at, finished_at) VALUES ('r1', 'nightly', 'scheduled', 'day',"
    " '2026-05-31', {start}, 'succeeded', 1, 1, 0, 0)"
)


def test_a_schema_1_sqlite_ledger_keeps_its_jobs_horizons(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"nightly": ("day", "ok")}, package="migrated_sqlite")
    project.ledger.parent.mkdir(parents=True)
    with sqlite3.connect(project.ledger) as db:
        db.executescript(SQLITE_1)
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        db.execute(ROW.format(runs="runs", start=DAY0))
    db.close()
    clock = FakeClock()
    clock.set_epoch(DAY0 + 86_399)  # the day's slot has passed: it ran already
    ledger = open_ledger(project.url, clock=clock)
    assert ledger.horizons() == {"nightly": Horizon("day?", DAY0 * 1_000)}
    p = Provider(load(project.root), ledger, InlineRunner(1), clock, ProviderConfig())
    p.step()
    assert not p.busy
    assert ledger.horizons() == {"nightly": Horizon("day", DAY0 * 1_000)}
    clock.set_epoch(DAY0 + 86_400 + slot_offset("nightly", Cadence.DAY))
    p.step()
    while p.busy:
        p.step()
    assert project.ends("nightly") == [period_key(Cadence.DAY, DAY0 + 86_400)]
    ((version,),) = project.query("SELECT value FROM meta WHERE key = 'schema_version'")
    assert version == "2"


def test_a_schema_1_postgres_ledger_keeps_its_jobs_horizons() -> None:
    with fresh_schema() as (url, server):
        schema = url.rsplit("schema=", 1)[1]
        s = f'"{schema}"'
        for statement in POSTGRES_1.format(s=s).split(";"):
            execute(server, statement)
        execute(server, f"INSERT INTO {s}.meta VALUES ('schema_version', '1')")  # noqa: S608
        execute(server, ROW.format(runs=f"{s}.runs", start=DAY0))
        ledger = open_ledger(url, clock=FakeClock())
        assert ledger.horizons() == {"nightly": Horizon("day?", DAY0 * 1_000)}
        ledger.close()
        ((version,),) = execute(server, f"SELECT value FROM {s}.meta")  # noqa: S608
        assert version == "2"
