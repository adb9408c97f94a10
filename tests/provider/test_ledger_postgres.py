"""What only the PostgreSQL ledger does: URLs, the driver import, schema versions, clock skew.

The shared behaviour is the contract suite's (test_ledger_contract.py, "postgres" rows).
"""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys

import pytest

from scheduled_spec.provider.ledger import (
    Attempt,
    Claim,
    ClaimRequest,
    LedgerError,
    LedgerUnavailableError,
    State,
    open_ledger,
    postgres_ledger,
)
from scheduled_spec.provider.owner import Owner
from scheduled_spec.provider.postgres_db import Database, parse_url
from tests.conftest import ROOT
from tests.provider.fakes import FakeClock
from tests.provider.postgres import execute, server_url


def test_schema_comes_from_the_url_and_the_rest_goes_to_libpq() -> None:
    conninfo, schema, shown = parse_url(
        "postgresql://app:secret@db:5432/prod?schema=jobs&sslmode=require"
    )
    assert schema == "jobs"
    assert "schema" not in conninfo
    assert "sslmode=require" in conninfo
    assert "connect_timeout=5" in conninfo
    assert shown == "postgresql://app:***@db:5432/prod?schema=jobs"
    assert parse_url("postgres://db/x")[1] == "scheduled"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://db/x?schema=a;drop", "schema must be a plain PostgreSQL name"),
        ("postgresql://db/x?schema=", "schema must be a plain PostgreSQL name"),
        ("postgresql:", "expected postgresql://USER@HOST:PORT/DATABASE"),
    ],
)
def test_bad_postgres_urls_say_what_is_expected(url: str, message: str) -> None:
    with pytest.raises(LedgerError, match=message):
        open_ledger(url, clock=FakeClock())


def test_an_unreachable_server_is_a_ledger_error() -> None:
    with pytest.raises(LedgerError, match="cannot connect to the ledger"):
        open_ledger("postgresql://postgres@127.0.0.1:1/x?connect_timeout=1", clock=FakeClock())


def test_without_psycopg_the_error_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from scheduled_spec.provider.ledger import open_ledger, LedgerError\n"
        "from scheduled_spec.clock import SystemClock\n"
        "try:\n"
        "    open_ledger('postgresql://db/x', clock=SystemClock())\n"
        "except LedgerError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "pip install 'scheduled-spec[postgres]'" in out.stdout


def test_sqlite_ledgers_never_import_psycopg(tmp_path: object) -> None:
    code = (
        "import sys\n"
        "from scheduled_spec.provider.ledger import open_ledger\n"
        "from scheduled_spec.clock import SystemClock\n"
        f"open_ledger('sqlite:///{tmp_path}/l.db', clock=SystemClock()).close()\n"
        "print('psycopg' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    open_ledger(postgres_url, clock=FakeClock()).close()
    schema = postgres_url.rsplit("schema=", 1)[1]
    execute(server_url(), f"UPDATE \"{schema}\".meta SET value = '99'")  # noqa: S608
    with pytest.raises(LedgerError, match="schema version 99 is newer"):
        open_ledger(postgres_url, clock=FakeClock())


def test_without_create_a_missing_schema_says_how_to_create_it(postgres_url: str) -> None:
    with pytest.raises(LedgerError, match="scheduled ledger init"):
        postgres_ledger(postgres_url, clock=FakeClock(), create=False)
    first = postgres_ledger(postgres_url, clock=FakeClock())
    second = postgres_ledger(postgres_url, clock=FakeClock(), create=False)
    assert getattr(first, "created", None) is True
    assert getattr(second, "created", None) is False
    first.close()
    second.close()


def test_clock_skew_is_logged_and_warned_above_a_second(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="scheduled_spec"):
        far = open_ledger(postgres_url, clock=FakeClock("2020-01-01T00:00:00+00:00"))
    far.close()
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "clock-skew"]
    assert record.levelno == logging.WARNING
    assert "ahead of this provider's" in record.getMessage()
    caplog.clear()
    from scheduled_spec.clock import SystemClock  # noqa: PLC0415

    with caplog.at_level(logging.INFO, logger="scheduled_spec"):
        near = open_ledger(postgres_url, clock=SystemClock())
    near.close()
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "clock-skew"]
    assert record.levelno == logging.INFO


def _terminate(name: str) -> int:
    """Terminate the backends of connections named `name` (only this test's)."""
    return len(
        execute(
            server_url(),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            name,
        )
    )


def test_a_terminated_backend_is_replaced_on_the_next_call(postgres_url: str) -> None:
    name = f"terminated-{secrets.token_hex(4)}"
    ledger = open_ledger(f"{postgres_url}&application_name={name}", clock=FakeClock())
    owner = Owner("test-host", 1, "", "a")
    request = ClaimRequest("job", "day", "2026-05-31", 1_780_185_600, 1_780_200_000)
    assert _terminate(name)
    assert ledger.horizons() == {}  # a read reconnects
    assert _terminate(name)
    (claim,) = ledger.claim([request], owner, 60)  # so does a claim
    assert isinstance(claim, Claim)
    assert _terminate(name)
    assert ledger.heartbeat([claim], 60) == []
    assert _terminate(name)
    assert ledger.finish(claim, Attempt(1, State.SUCCEEDED, 0.0, 0.1))
    assert _terminate(name)
    assert ledger.prune(1, {"x"}) == 0  # and a transaction
    ((state, fence),) = [(e.run.state, e.run.fence) for e in ledger.history()]
    assert (state, fence) == (State.SUCCEEDED, 1)
    ledger.close()


def test_a_deadlock_retried_to_the_end_is_unavailable(postgres_url: str) -> None:
    """SPEC 10.15: a failure that may pass (here a deadlock, five times in a row) is
    LedgerUnavailableError, which the CLI exits 75 for; issue 11: it was a plain LedgerError,
    exit 2, which a supervisor need not restart."""
    from psycopg import errors as pg_errors  # noqa: PLC0415 - the tests run without psycopg too

    database = Database(postgres_url)
    tries: list[int] = []

    def deadlocked(cur: object) -> None:
        tries.append(1)
        raise pg_errors.DeadlockDetected("deadlock detected")

    with pytest.raises(LedgerUnavailableError, match="cannot claim: deadlock detected"):
        database.transaction("cannot claim", deadlocked)
    assert len(tries) == 5
    database.close()
