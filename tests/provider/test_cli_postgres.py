"""The commands against the real PostgreSQL server: ledger init, tick, history.

Also how the suite behaves without a server: skipped with one clear summary line, except
under CI=true, where an unreachable server fails the tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.provider.helpers import make_project, rfc3339, scheduled
from tests.provider.postgres import ENV, SKIPPED, rows, schema_of, server_url

T = 1_780_271_999  # 2026-05-31T23:59:59Z


def test_ledger_init_creates_the_schema_once(postgres_url: str) -> None:
    first = scheduled("ledger", "init", "--ledger", postgres_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith("created")
    again = scheduled("ledger", "init", env={"SCHEDULED_LEDGER": postgres_url})
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith("already exists")
    assert schema_of(postgres_url) in again.stdout
    assert rows(postgres_url) == []


def test_ledger_init_of_an_unreachable_server_is_exit_2() -> None:
    result = scheduled("ledger", "init", "--ledger", "postgresql://x@127.0.0.1:1/x")
    assert result.returncode == 2
    assert "cannot connect to the ledger" in result.stderr
    assert "Traceback" not in result.stderr


def test_tick_and_history_work_against_postgres(tmp_path: Path, postgres_url: str) -> None:
    project = make_project(tmp_path, {"good": ("day", "ok"), "bad": ("day", "raise")})
    env = {"SCHEDULED_LEDGER": postgres_url}
    empty = scheduled("history", str(project.root), env=env)
    assert empty.stdout.strip() == "no runs recorded yet"
    assert rows(postgres_url) == [], "history creates no schema"
    now = rfc3339(T)
    dry = scheduled("tick", str(project.root), "--now", now, "--dry-run", env=env)
    assert sorted(line.split("\t")[0] for line in dry.stdout.splitlines()) == ["bad", "good"]
    args = ("--now", now, "--attempts", "2", "--backoff", "0.05")
    first = scheduled("tick", str(project.root), *args, env=env)
    assert first.returncode == 1, first.stderr  # "bad" failed
    assert project.ends("good") == ["2026-05-31"]
    second = scheduled("tick", str(project.root), *args, env=env)
    assert second.returncode == 0, second.stderr
    assert project.ends("good") == ["2026-05-31"], "ticking twice runs nothing twice"
    assert {r["job_id"]: r["state"] for r in rows(postgres_url)} == {
        "good": "succeeded",
        "bad": "failed",
    }
    table = scheduled("history", str(project.root), env=env).stdout.splitlines()
    assert len(table) == 4  # header, good, bad's two attempts
    history = scheduled(
        "history", str(project.root), "--job", "bad", "--format", "json", "--output", env=env
    )
    entries = json.loads(history.stdout)
    assert [(e["attempt"], e["outcome"]) for e in entries] == [(2, "failed"), (1, "failed")]
    assert "ValueError: boom" in entries[0]["output"]
    assert not (project.root / ".scheduled").exists(), "no SQLite file was made"


def _pytest(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    test = (
        "tests/provider/test_ledger_contract.py"
        "::test_claim_inserts_once_then_returns_the_existing_row"
    )
    base = {k: v for k, v in os.environ.items() if k not in (ENV, "CI")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_a_server_url_postgres_tests_skip_with_one_clear_line() -> None:
    server_url()  # only where a server is configured: this test runs pytest twice
    result = _pytest({})
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout
    assert f"{SKIPPED} (1 tests)" in result.stdout


def test_in_ci_an_unreachable_server_fails_the_postgres_tests() -> None:
    server_url()
    result = _pytest({"CI": "true", ENV: "postgresql://postgres@127.0.0.1:1/test"})
    assert result.returncode == 1, result.stdout
    assert "PostgreSQL is unreachable" in result.stdout
    assert "1 passed, 1 error" in result.stdout  # failed in its fixture: an error, not a skip
    assert "skipped" not in result.stdout
