"""What only the SQLite ledger does: URLs, integrity check and quarantine, schema version."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from scheduled_spec.provider.ledger import LedgerError, LedgerUnavailableError, open_ledger
from scheduled_spec.provider.ledger_sqlite import SQLiteLedger
from tests.provider.fakes import FakeClock


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/x", "unknown ledger scheme 'mysql'"),
        ("ledger.sqlite3", "expected a ledger URL"),
        ("sqlite:", "names no file"),
        ("sqlite://host/x", "expected sqlite:///ABSOLUTE/PATH"),
        ("sqlite:x.db?journal=off", "the only option is synchronous"),
    ],
)
def test_bad_ledger_urls_say_what_is_expected(url: str, message: str) -> None:
    with pytest.raises(LedgerError, match=message):
        open_ledger(url, clock=FakeClock())


def test_relative_and_absolute_urls_name_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_ledger("sqlite:sub/ledger.db", clock=FakeClock())
    absolute = open_ledger(f"sqlite://{tmp_path}/abs.db", clock=FakeClock())
    extra_slash = open_ledger(f"sqlite:///{tmp_path}/abs.db", clock=FakeClock())
    assert absolute.url == extra_slash.url == f"sqlite://{tmp_path}/abs.db"
    assert relative.url == "sqlite:sub/ledger.db"
    for ledger in (relative, absolute, extra_slash):
        ledger.close()
    assert (tmp_path / "sub" / "ledger.db").is_file()
    assert (tmp_path / "abs.db").is_file()


def test_corrupt_file_is_moved_aside_and_a_fresh_ledger_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.ERROR):
        ledger = SQLiteLedger(path, clock=FakeClock())
    assert ledger.horizons() == {}
    ledger.close()
    (moved,) = tmp_path.glob("ledger.sqlite3.corrupt-*")
    assert moved.read_bytes().startswith(b"this is not a database")
    assert "is corrupt" in caplog.text


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    SQLiteLedger(path, clock=FakeClock()).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(LedgerError, match="schema version 99 is newer"):
        SQLiteLedger(path, clock=FakeClock())


def test_providers_started_together_on_a_fresh_ledger_all_open_it(tmp_path: Path) -> None:
    """SPEC 10.12.1: one scheduled run per web worker, all starting at once, is safe.

    Switching a new file to WAL can meet "database is locked" at once (SQLite's deadlock
    rule, no busy wait) while another process creates the ledger; opening retries it.
    """
    code = (
        "import sys; from pathlib import Path; from scheduled_spec.clock import SystemClock;"
        " from scheduled_spec.provider.ledger_sqlite import SQLiteLedger;"
        " SQLiteLedger(Path(sys.argv[1]), clock=SystemClock()).horizons()"
    )
    for round_ in range(3):
        path = tmp_path / f"round-{round_}" / "ledger.sqlite3"
        starters = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE, text=True
            )
            for _ in range(8)
        ]
        errors = [p.communicate(timeout=120)[1] for p in starters]
        assert [p.returncode for p in starters] == [0] * 8, errors


def test_a_file_locked_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    """SPEC 10.15: a write lock held by another process past the busy timeout may pass: it is
    LedgerUnavailableError (the CLI's exit 75), at open and at any write, never a raw
    sqlite3 error (issue 11)."""
    path = tmp_path / "ledger.sqlite3"
    ledger = SQLiteLedger(path, clock=FakeClock(), busy_timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LedgerUnavailableError, match="still locked after the busy timeout"):
            ledger.prune(90, ["job"])
        with pytest.raises(LedgerUnavailableError, match="database is locked"):
            SQLiteLedger(path, clock=FakeClock(), busy_timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ledger.prune(90, ["job"]) == 0  # the lock gone, the same write succeeds
    ledger.close()
