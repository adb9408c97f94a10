"""The provider's commands through the real CLI: exit codes, messages, output, history."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.provider.helpers import make_project, rfc3339, scheduled, set_clock

T = 1_780_271_999  # 2026-05-31T23:59:59Z
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/x?connect_timeout=1"


def test_run_once_streams_output_and_does_not_count_for_the_period(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"job": ("day", "prints")})
    clock = tmp_path / "clock"
    set_clock(clock, T)
    manual = scheduled(
        "run-once", "job", str(project.root), env={"SCHEDULED_CLOCK_FILE": str(clock)}
    )
    assert manual.returncode == 0, manual.stderr
    assert "to stdout 2026-05-31" in manual.stdout
    assert "to stderr" in manual.stderr
    assert [r["kind"] for r in project.rows("1")] == ["manual"]
    ticked = scheduled("tick", str(project.root), "--now", rfc3339(T))
    assert ticked.returncode == 0
    assert sorted(r["kind"] for r in project.rows("1")) == ["manual", "scheduled"]
    assert project.ends("job") == ["2026-05-31", "2026-05-31"]


def test_run_once_exit_codes(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"clean-files": ("day", "raise")})
    unknown = scheduled("run-once", "clean-file", str(project.root))
    assert unknown.returncode == 2
    assert 'no job "clean-file"' in unknown.stderr
    assert 'did you mean "clean-files"?' in unknown.stderr
    assert "Traceback" not in unknown.stderr
    failed = scheduled("run-once", "clean-files", str(project.root))
    assert failed.returncode == 1
    assert "clean-files: failed: ValueError: boom" in failed.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "pyproject.toml").write_text('[tool.scheduled.x]\nevery = "daily"\n')
    invalid = scheduled("run-once", "x", str(tmp_path / "bad"))
    assert invalid.returncode == 2
    assert "SCH103" in invalid.stderr


def test_sys_exit_0_is_success_and_async_jobs_are_awaited(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"a": ("day", "exits0"), "b": ("day", "async")})
    result = scheduled("tick", str(project.root), "--now", rfc3339(T))
    assert result.returncode == 0, result.stderr
    assert project.ends("b") == ["2026-05-31"]
    assert {r["state"] for r in project.rows("1")} == {"succeeded"}


def test_bad_inputs_are_usage_errors_without_tracebacks(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"job": ("day", "ok")})
    root = str(project.root)
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    db.close()
    cases = [
        (["tick", root, "--now", "yesterday"], "expected an RFC 3339 instant"),
        (["tick", root, "--now", "2026-05-31T10:00:00"], "has no time zone"),
        (["tick", root, "--ledger", f"sqlite://{newer}"], "schema version 99 is newer"),
        (["ledger", "init", root, "--ledger", f"sqlite://{newer}"], "schema version 99 is newer"),
        (["run", root, "--ledger", "redis://x"], "unknown ledger scheme 'redis'"),
        (["history", root, "--ledger", "sqlite://host/x"], "expected sqlite:///ABSOLUTE/PATH"),
        (["run", root, "--catch-up", "some"], "'some' is not one of"),
    ]
    for args, message in cases:
        result = scheduled(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "pyproject.toml").write_text('[tool.scheduled.x]\nevery = "daily"\n')
    invalid = scheduled("tick", str(tmp_path / "bad"))
    assert invalid.returncode == 1
    assert "nothing was run" in invalid.stderr


def test_history_table_and_json(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"ok-job": ("day", "ok"), "bad-job": ("day", "raise")})
    empty = scheduled("history", str(project.root))
    assert empty.stdout.strip() == "no runs recorded yet"
    assert not project.ledger.exists()  # reading history creates nothing
    scheduled("tick", str(project.root), "--now", rfc3339(T), "--attempts", "2", "--backoff", "0")
    table = scheduled("history", str(project.root)).stdout.splitlines()
    assert table[0].split() == [
        "STARTED", "(UTC)", "JOB", "KIND", "PERIOD", "ATTEMPT", "OUTCOME", "DURATION", "ERROR"
    ]  # fmt: skip
    assert len(table) == 4
    assert any(line.endswith("ValueError: boom") for line in table)
    rows = json.loads(
        scheduled(
            "history", str(project.root), "--job", "bad-job", "--format", "json", "--output"
        ).stdout
    )
    assert [(r["attempt"], r["outcome"]) for r in rows] == [(2, "failed"), (1, "failed")]
    assert "ValueError: boom" in rows[0]["output"]
    assert rows[0]["period"] == "2026-05-31"


def test_json_logs_have_one_line_per_start_and_end(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"job": ("day", "ok")})
    result = scheduled("tick", str(project.root), "--now", rfc3339(T), "--log-format", "json")
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [e["event"] for e in events] == ["first-sight", "start", "end"]
    assert events[0]["count"] == 1
    assert events[2]["outcome"] == "succeeded"
    assert events[1]["period"] == "2026-05-31"


def test_output_is_kept_bounded_with_head_and_tail(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"job": ("day", "floods")})
    assert scheduled("tick", str(project.root), "--now", rfc3339(T)).returncode == 0
    ((output,),) = project.query("SELECT output FROM attempts")
    assert len(output) < 66_000
    assert output.startswith("x")
    assert output.endswith("THE END")
    assert "bytes omitted" in output


def test_an_unreachable_ledger_is_exit_75_never_a_usage_error(tmp_path: Path) -> None:
    """SPEC 10.15: a ledger that cannot be used now is exit 75 (EX_TEMPFAIL), with one line
    naming it and what to do. Issue 11: it was exit 2, which supervisors do not restart."""
    project = make_project(tmp_path, {"job": ("day", "ok")})
    root = str(project.root)
    for args in (
        ["tick", root],
        ["history", root],
        ["ledger", "init", root],
        ["run-once", "job", root],
    ):
        result = scheduled(*args, "--ledger", UNREACHABLE)
        assert result.returncode == 75, (args, result.stderr)
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("Error: postgresql://postgres@127.0.0.1:1/x"), (args, line)
        assert "cannot connect to the ledger" in line, (args, line)
        assert "run the command again once it answers (exit 75)" in line, (args, line)
    assert project.ends("job") == []


# The busy timeout shortened (it is 60 s): the test is about what happens after it.
_SHORT_BUSY_TIMEOUT = """
import sys
from scheduled_spec.provider.ledger_sqlite import SQLiteLedger
SQLiteLedger.__init__.__kwdefaults__["busy_timeout"] = 0.5
from scheduled_spec.cli import main
sys.argv = ["scheduled", *sys.argv[1:]]
main()
"""


def test_a_ledger_file_locked_past_the_busy_timeout_is_exit_75(tmp_path: Path) -> None:
    """SPEC 10.15: another process holding the SQLite write lock past the busy timeout is a
    temporary failure (exit 75), not a usage error (issue 11: it was exit 2)."""
    project = make_project(tmp_path, {"job": ("day", "ok")})
    root = str(project.root)
    assert scheduled("tick", root, "--now", rfc3339(T)).returncode == 0  # the file exists
    holder = sqlite3.connect(project.ledger, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for args in (["tick", root, "--now", rfc3339(T + 86_400)], ["history", root]):
            result = subprocess.run(
                [sys.executable, "-c", _SHORT_BUSY_TIMEOUT, *args],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 75, (args, result.stderr)
            (line,) = result.stderr.strip().splitlines()
            assert line.startswith(f"Error: {project.ledger}: "), (args, line)
            assert "database is locked" in line, (args, line)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert project.ends("job") == ["2026-05-31"]
