"""The `scheduled validate` and `scheduled show` commands, run as real child processes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import DEMO, RunCli, write_project

GOOD = '[tool.scheduled.clean-files]\nevery = "day"\nentrypoint = "app.jobs:clean_files"\n'
BAD = '[tool.scheduled.nightly]\nevery = "daily"\nentrypoint = "app.jobs:clean"\n'
WARN = '[tool.scheduled.Nightly]\nevery = "day"\nentrypoint = "app.jobs:clean"\n'


def test_validate_valid_project_exits_0(run_cli: RunCli, tmp_path: Path) -> None:
    write_project(tmp_path, GOOD)
    result = run_cli("validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "pyproject.toml: ok, 1 job\n"
    assert result.stderr == ""


def test_validate_invalid_project_exits_1_with_located_message(
    run_cli: RunCli, tmp_path: Path
) -> None:
    write_project(tmp_path, BAD)
    result = run_cli("validate", "pyproject.toml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        (
            'pyproject.toml:2:9: SCH103 tool.scheduled.nightly.every: expected one of "minute",'
            ' "hour", "day", "week", "month", got "daily" (did you mean "day"?)'
        ),
        "pyproject.toml: invalid, 1 job, 1 error",
    ]


def test_validate_warning_passes_unless_strict(run_cli: RunCli, tmp_path: Path) -> None:
    write_project(tmp_path, WARN)
    assert run_cli("validate", cwd=tmp_path).returncode == 0
    strict = run_cli("validate", "--strict", cwd=tmp_path)
    assert strict.returncode == 1
    assert strict.stdout.endswith("pyproject.toml: invalid, 1 job, 1 warning\n")


def test_no_scheduled_table_is_a_note_and_exit_0(run_cli: RunCli, tmp_path: Path) -> None:
    write_project(tmp_path, '[project]\nname = "x"\n')
    result = run_cli("validate", "--strict", cwd=tmp_path)
    assert result.returncode == 0
    assert "SCH004 tool.scheduled: no [tool.scheduled] table" in result.stdout


def test_validate_several_paths_and_directories(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_project(tmp_path / "a", GOOD)
    write_project(tmp_path / "b", BAD)
    result = run_cli("validate", "a", "b/pyproject.toml", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert [(f["path"], f["valid"], f["jobs"]) for f in report["files"]] == [
        ("a/pyproject.toml", True, 1),
        ("b/pyproject.toml", False, 1),
    ]
    assert report["files"][1]["issues"] == [
        {
            "code": "SCH103",
            "severity": "error",
            "path": "tool.scheduled.nightly.every",
            "line": 2,
            "column": 9,
            "message": 'expected one of "minute", "hour", "day", "week", "month", got "daily"',
            "hint": 'did you mean "day"?',
        }
    ]


def test_validate_github_annotations(run_cli: RunCli, tmp_path: Path) -> None:
    write_project(tmp_path, BAD + WARN)
    result = run_cli("validate", "--format", "github", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "::error file=pyproject.toml,line=2,col=9,title=SCH103::tool.scheduled.nightly.every:"
        ' expected one of "minute", "hour", "day", "week", "month", got "daily"'
        ' (did you mean "day"?)'
    )
    assert lines[1].startswith("::warning file=pyproject.toml,line=4,col=17,title=SCH014::")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("validate", "missing-dir"), "missing-dir: no such file"),
        (("validate", "--cadences", "daily"), '"daily" (did you mean "day"?)'),
        (("validate", "--format", "xml"), "'xml' is not one of"),
        (("show", "--now", "yesterday"), "expected an RFC 3339 instant"),
        (("show", "--now", "2026-11-24T10:00:00"), "has no time zone"),
        (("show", "--count", "0"), "0 is not in the range"),
    ],
)
def test_usage_errors_exit_2_without_traceback(
    run_cli: RunCli, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    write_project(tmp_path, GOOD)
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_directory_without_pyproject_is_a_usage_error(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path))
    assert result.returncode == 2
    assert "no pyproject.toml in this directory" in result.stderr


def test_unsupported_cadence(run_cli: RunCli, tmp_path: Path) -> None:
    write_project(tmp_path, GOOD)
    result = run_cli("validate", "--cadences", "hour,month", cwd=tmp_path)
    assert result.returncode == 1
    assert 'SCH104 tool.scheduled.clean-files.every: this provider supports every = "hour",' in (
        result.stdout
    )


IMPORTS = {
    "good.py": "def run():\n    pass\n",
    "noisy.py": "print('importing noisy')\ndef run():\n    pass\n",
    "needs_args.py": "def run(path):\n    pass\n",
    "not_callable.py": "run = 42\n",
    "raises.py": "raise RuntimeError('no database configured')\n",
    "hangs.py": "import time\ntime.sleep(60)\ndef run():\n    pass\n",
    "exits.py": "import os\nos._exit(3)\n",
    "pkg/__init__.py": "",
    "pkg/tasks.py": "class Cleaner:\n    @staticmethod\n    def run():\n        pass\n",
}
DECLARED = {
    "good": "good:run",
    "noisy": "noisy:run",
    "nested": "pkg.tasks:Cleaner.run",
    "missing-module": "nowhere:run",
    "missing-attr": "good:nothing",
    "needs-args": "needs_args:run",
    "not-callable": "not_callable:run",
    "raises": "raises:run",
    "hangs": "hangs:run",
    "exits": "exits:run",
    "after-hang": "pkg.tasks:Cleaner.run",
}


def test_check_imports_reports_each_failure(run_cli: RunCli, tmp_path: Path) -> None:
    for name, body in IMPORTS.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(body)
    write_project(
        tmp_path,
        "".join(
            f'[tool.scheduled.{job}]\nevery = "day"\nentrypoint = "{ep}"\n'
            for job, ep in DECLARED.items()
        ),
    )
    plain = run_cli("validate", cwd=tmp_path)
    assert plain.returncode == 0, "without --check-imports nothing is imported"
    result = run_cli(
        "validate", "--check-imports", "--import-timeout", "3", "--format", "json", cwd=tmp_path
    )
    assert result.returncode == 1
    issues = json.loads(result.stdout)["files"][0]["issues"]
    found = {i["path"].split(".")[2]: (i["code"], i["message"]) for i in issues}
    assert {job: code for job, (code, _) in found.items()} == {
        "missing-module": "SCH210",
        "missing-attr": "SCH211",
        "needs-args": "SCH212",
        "not-callable": "SCH212",
        "raises": "SCH210",
        "hangs": "SCH213",
        "exits": "SCH210",
    }
    assert "ModuleNotFoundError" in found["missing-module"][1]
    assert "RuntimeError: no database configured" in found["raises"][1]
    assert "did not finish within 3 s" in found["hangs"][1]
    assert "exit code 3" in found["exits"][1]
    assert all(i["line"] is not None for i in issues)


def test_show_table_lists_slots_and_next_runs(run_cli: RunCli) -> None:
    result = run_cli("show", str(DEMO), "--now", "2026-11-24T00:00:00Z", "--count", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "now: 2026-11-24T00:00:00Z"
    assert lines[1].split() == ["JOB", "EVERY", "ENTRYPOINT", "SLOT", "NEXT", "RUNS", "(UTC)"]
    assert lines[2].split() == [
        "clean-files",
        "day",
        "app.jobs:clean_files",
        "every",
        "day",
        "at",
        "08:15:12",
        "UTC",
        "2026-11-24T08:15:12Z",
    ]
    assert lines[3].strip() == "2026-11-25T08:15:12Z"


def test_show_json_shape(run_cli: RunCli) -> None:
    result = run_cli("show", str(DEMO), "--now", "2026-11-24T00:00:00Z", "--format", "json")
    data = json.loads(result.stdout)
    assert data["now"] == "2026-11-24T00:00:00Z"
    first = data["jobs"][0]
    assert first == {
        "id": "clean-files",
        "every": "day",
        "entrypoint": "app.jobs:clean_files",
        "offset_seconds": 29712,
        "slot": "every day at 08:15:12 UTC",
        "next_runs": ["2026-11-24T08:15:12Z", "2026-11-25T08:15:12Z", "2026-11-26T08:15:12Z"],
    }
    assert {job["every"] for job in data["jobs"]} == {"minute", "hour", "day", "week", "month"}


def test_show_salt_moves_the_slot(run_cli: RunCli) -> None:
    plain = json.loads(run_cli("show", str(DEMO), "--format", "json").stdout)
    salted = json.loads(run_cli("show", str(DEMO), "--format", "json", "--salt", "t1").stdout)
    assert [j["offset_seconds"] for j in plain["jobs"]] != [
        j["offset_seconds"] for j in salted["jobs"]
    ]


def test_show_invalid_project_exits_1_with_issues(run_cli: RunCli, tmp_path: Path) -> None:
    write_project(tmp_path, BAD)
    result = run_cli("show", cwd=tmp_path)
    assert result.returncode == 1
    assert "SCH103" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_reads_like_documentation(run_cli: RunCli) -> None:
    for command in ("validate", "show"):
        text = run_cli(command, "--help").stdout
        assert "Examples:" in text
        assert f"scheduled {command}" in text
    assert "scheduled validate" in run_cli("--help").stdout


def test_console_script_and_module_agree(tmp_path: Path) -> None:
    import subprocess  # noqa: PLC0415 - only this test runs the installed console script
    import sys  # noqa: PLC0415

    script = Path(sys.executable).parent / "scheduled"
    write_project(tmp_path, GOOD)
    result = subprocess.run(
        [str(script), "validate"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout == "pyproject.toml: ok, 1 job\n"


def test_slot_words_for_every_cadence(run_cli: RunCli, tmp_path: Path) -> None:
    write_project(
        tmp_path,
        textwrap.dedent("""\
        [tool.scheduled.m]
        every = "minute"
        entrypoint = "a:b"
        [tool.scheduled.h]
        every = "hour"
        entrypoint = "a:b"
        [tool.scheduled.w]
        every = "week"
        entrypoint = "a:b"
        [tool.scheduled.mo]
        every = "month"
        entrypoint = "a:b"
    """),
    )
    data = json.loads(run_cli("show", "--format", "json", cwd=tmp_path).stdout)
    days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    for job in data["jobs"]:
        offset = job["offset_seconds"]
        day, rest = divmod(offset, 86_400)
        clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
        assert (
            job["slot"]
            == {
                "minute": f"every minute at second {offset}",
                "hour": f"every hour at minute {offset // 60:02d}:{offset % 60:02d}",
                "week": f"every week on {days[day]} at {clock} UTC",
                "month": f"every month on day {day + 1} at {clock} UTC",
            }[job["every"]]
        )
        assert job["next_runs"][0][-3:] == f"{offset % 60:02d}Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T08:15:12Z", "2026-11-24T08:15:12+00:00"),
        ("2026-11-24t08:15:12z", "2026-11-24T08:15:12+00:00"),
        ("2026-11-24 08:15:12Z", "2026-11-24T08:15:12+00:00"),
        ("2026-11-24T08:15:12.5Z", "2026-11-24T08:15:12.500000+00:00"),
        ("2026-11-24T08:15:12.123456789Z", "2026-11-24T08:15:12.123456+00:00"),
        ("2026-11-24T09:15:12+01:00", "2026-11-24T08:15:12+00:00"),
        ("2026-11-24T08:15Z", "2026-11-24T08:15:00+00:00"),
    ],
)
def test_now_accepts_rfc3339_on_every_python(text: str, expected: str) -> None:
    from scheduled_spec.cli.common import parse_instant  # noqa: PLC0415

    assert parse_instant(text).isoformat() == expected


def test_now_rejects_impossible_dates(run_cli: RunCli) -> None:
    result = run_cli("show", str(DEMO), "--now", "2026-02-30T00:00:00Z")
    assert result.returncode == 2
    assert "is not a valid instant" in result.stderr


def test_unknown_command_suggests_the_close_one(run_cli: RunCli) -> None:
    result = run_cli("valdate")
    assert result.returncode == 2
    assert "no such command 'valdate' (did you mean \"validate\"?)" in result.stderr


def test_every_command_is_listed_and_loads(run_cli: RunCli) -> None:
    from scheduled_spec.cli import COMMANDS  # noqa: PLC0415

    listing = run_cli("--help").stdout
    for name in COMMANDS:
        assert f"  {name} " in listing
        assert run_cli(name, "--help").returncode == 0


def test_show_near_the_end_of_the_calendar(run_cli: RunCli, tmp_path: Path) -> None:
    write_project(tmp_path, GOOD)
    result = run_cli("show", "--now", "9999-12-31T23:59:59Z", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["jobs"][0]["next_runs"] == []
    table = run_cli("show", "--now", "9999-12-31T23:59:59Z", cwd=tmp_path)
    assert "(none before year 10000)" in table.stdout
