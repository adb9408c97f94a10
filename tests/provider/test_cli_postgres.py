"""The commands against the real PostgreSQL server: ledger init, tick, history.

Also how the suite behaves without a server: skipped with one clear summary line, except
under CI=true, where an unreachable server fails the tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import ROOT
from tests.provider.helpers import make_project, rfc3339, scheduled, wait_for
from tests.provider.postgres import ENV, SKIPPED, fresh_schema, rows, schema_of, server_url
from tests.provider.replicas import Proxy

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


# Each starter imports everything first, then waits for the go file: the commands then
# reach the ledger within milliseconds of each other, as replicas of one deploy do.
_STARTER = """
import sys, time
from pathlib import Path
import scheduled_spec.cli.ledger, scheduled_spec.cli.run, scheduled_spec.provider.ledger_postgres
from scheduled_spec.cli import main
go = Path(sys.argv[1])
Path(sys.argv[2]).touch()
while not go.exists():
    time.sleep(0.002)
sys.argv = ["scheduled", *sys.argv[3:]]
main()
"""
Started = tuple[subprocess.Popen[bytes], Path, tuple[str, ...]]


def _start_together(here: Path, commands: list[tuple[str, ...]], out: list[Started]) -> None:
    """Start `commands` (``scheduled`` arguments), each logging to ``here/<n>.log``, at once."""
    for n, command in enumerate(commands):
        log, ready = here / f"{n}.log", here / f"{n}.ready"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-c", _STARTER, str(here / "go"), str(ready), *command],
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        out.append((process, log, command))
    flags = [here / f"{n}.ready" for n in range(len(commands))]
    wait_for(lambda: all(f.exists() for f in flags), what="every command ready")
    (here / "go").touch()


def _exit_code(process: subprocess.Popen[bytes], log: Path, command: tuple[str, ...]) -> int:
    """How the command ended; a `scheduled run` is stopped with SIGTERM once it started."""
    if command[0] == "run":
        wait_for(
            lambda: process.poll() is not None or "provider started" in log.read_text(),
            what="scheduled run to start or exit",
        )
        process.send_signal(signal.SIGTERM)
    return process.wait(60)


def test_ledger_init_and_run_started_together_on_a_new_schema_all_succeed(
    tmp_path: Path,
) -> None:
    """SPEC 10.18.2: commands started at once on a schema that does not exist yet all succeed.

    Issue 11: 12 of 20 exited 2 with 'duplicate key value violates unique constraint
    "meta_pkey"': the check after the creation lock read a stale catalog cache.
    """
    project = make_project(tmp_path, {"job": ("day", "ok")})
    for round_ in range(3):
        here = tmp_path / f"round-{round_}"
        here.mkdir()
        started: list[Started] = []
        with fresh_schema() as (url, _):
            commands: list[tuple[str, ...]] = [("ledger", "init", "--ledger", url)] * 4
            commands += [("run", str(project.root), "--ledger", url)] * 4
            try:
                _start_together(here, commands, started)
                codes = [(_exit_code(*s), s[1].read_text()) for s in started]
            finally:
                for process, _, _ in started:
                    if process.poll() is None:
                        process.kill()
                        process.wait()
        assert [code for code, _ in codes] == [0] * len(commands), (round_, codes)


_WAITS_FOR_RELEASE = """
import time
from pathlib import Path

def job():
    Path({started!r}).touch()
    while not Path({release!r}).exists():
        time.sleep(0.02)
"""


def test_a_connection_lost_during_tick_is_exit_75(tmp_path: Path, postgres_url: str) -> None:
    """SPEC 10.15: the database going away while `tick` runs a job is exit 75 with one line
    saying to try again, not a traceback (issue 11)."""
    started, release = tmp_path / "started", tmp_path / "release"
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "jobs.py").write_text(
        _WAITS_FOR_RELEASE.format(started=str(started), release=str(release))
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.scheduled.job]\nevery = "day"\nentrypoint = "app.jobs:job"\n'
    )
    server = urlsplit(server_url())
    proxy = Proxy((server.hostname or "127.0.0.1", server.port or 5432))
    parts = urlsplit(postgres_url)
    user = f"{parts.username}@" if parts.username else ""
    url = f"postgresql://{user}127.0.0.1:{proxy.port}{parts.path}?{parts.query}"
    args = ("tick", str(tmp_path), "--ledger", url, "--now", rfc3339(T))
    tick = subprocess.Popen(
        [sys.executable, "-m", "scheduled_spec", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: started.exists() or tick.poll() is not None, what="the job to start")
        proxy.cut()  # every connection closed, new ones refused
        release.touch()
        _, err = tick.communicate(timeout=120)
    finally:
        if tick.poll() is None:
            tick.kill()
            tick.wait()
        proxy.close()
    assert tick.returncode == 75, err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert f"127.0.0.1:{proxy.port}" in line
    assert "run the command again once it answers (exit 75)" in line
