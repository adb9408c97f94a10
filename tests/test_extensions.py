"""The extension keys of SPEC.md part 9 through validate, load, show and the schedule."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from itertools import islice, pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduled_spec import InvalidProject, Job, Severity, load, next_run, runs_between, validate
from scheduled_spec.local_periods import period_containing, transitions
from scheduled_spec.triggers import describe_schedule
from tests.conftest import RunCli, write_project

UTC = timezone.utc
NOW = datetime(2026, 11, 24, tzinfo=UTC)
HEADER = '[tool.scheduled.job]\nevery = "{every}"\nentrypoint = "app:run"\n'


def one_issue(extra: str, every: str = "day") -> tuple[str, str, int | None, int | None, str]:
    report = validate(HEADER.format(every=every) + extra, now=NOW)
    problems = [i for i in report.issues if i.code != "SCH320"]
    assert len(problems) == 1, problems
    (issue,) = problems
    return issue.code, issue.path, issue.line, issue.column, issue.describe()


# --- messages: the common mistake of each key ---------------------------------------------


@pytest.mark.parametrize(
    ("extra", "every", "expected"),
    [
        (
            'at = "9:00"\n',
            "day",
            (
                '4:6: SCH301 at: expected "HH:MM" or "HH:MM:SS"'
                ' for every = "day", got "9:00" (did you mean "09:00"?)'
            ),
        ),
        (
            'at = "09:00"\n',
            "week",
            (
                '4:6: SCH301 at: expected "mon HH:MM" or "mon HH:MM:SS" for every = "week",'
                ' got "09:00" (this is the form of every = "day")'
            ),
        ),
        (
            'at = "31 09:00"\n',
            "month",
            (
                '4:6: SCH301 at: expected "DD HH:MM" or'
                ' "DD HH:MM:SS" for every = "month", got "31 09:00": day 31 is not in 1-28'
                " (every month has it)"
            ),
        ),
        (
            "at = 2215\n",
            "day",
            ('4:6: SCH300 at: expected a string such as "22:15", got an integer (2215)'),
        ),
        (
            'timezone = "Europe/Stockolm"\n',
            "day",
            (
                "4:12: SCH302 timezone: expected an IANA time zone"
                ' name such as "Europe/Stockholm", got "Europe/Stockolm"'
                ' (did you mean "Europe/Stockholm"?)'
            ),
        ),
        (
            'timezone = "america/new_york"\n',
            "day",
            (
                "4:12: SCH302 timezone: expected an IANA time zone"
                ' name such as "Europe/Stockholm", got "america/new_york"'
                ' (did you mean "America/New_York"?)'
            ),
        ),
        (
            'cron = "0 25 * * *"\n',
            "day",
            (
                '4:8: SCH303 cron: cron: "0 25 * * *": hour 25 is'
                " out of range 0-23\n       0 25 * * *\n         ^^ (midnight is hour 0)"
            ),
        ),
        (
            'cron = "0 0 30 2 *"\n',
            "month",
            (
                '4:8: SCH311 cron: "0 0 30 2 *" never runs: no date'
                " matches it (no month has that day: check the day of the month against the months)"
            ),
        ),
        (
            "interval = 0.05\n",
            "minute",
            (
                "4:12: SCH304 interval: expected at least 0.1"
                " seconds, got 0.05 (the shortest interval is 0.1 s, that is 100 ms)"
            ),
        ),
        (
            'interval = "20 sec"\n',
            "minute",
            (
                "4:12: SCH304 interval: expected a number of seconds"
                ' or a duration such as "20s", "5m", "1.5s", got "20 sec"'
                " (units: ms, s, m, h; no space between the number and the unit)"
            ),
        ),
        (
            "interval = 0.1234\n",
            "minute",
            (
                "4:12: SCH304 interval: expected whole milliseconds,"
                " got 0.1234 (123.4 ms) (ticks are placed to the millisecond: use 0.123)"
            ),
        ),
        (
            'cron = "0 9 * * *"\nat = "09:00"\n',
            "day",
            (
                "5:6: SCH305 at: at cannot be combined with cron: a"
                " job has at most one of at, cron, interval (keep one; to run at other times too,"
                " declare another job)"
            ),
        ),
        (
            'overlap = "buffer_one"\n',
            "day",
            (
                '4:11: SCH306 overlap: expected one of "buffer-one",'
                ' "skip", "allow", got "buffer_one" (did you mean "buffer-one"?)'
            ),
        ),
        (
            'catch-up = "latests"\n',
            "day",
            (
                '4:12: SCH306 catch-up: expected one of "latest",'
                ' "all", "none", got "latests" (did you mean "latest"?)'
            ),
        ),
        (
            'catch_up = "all"\n',
            "day",
            ('4:1: SCH017 catch_up: unknown key "catch_up" (did you mean "catch-up"?)'),
        ),
        (
            "retries = -1\n",
            "day",
            ("4:11: SCH306 retries: expected an integer at least 0, got -1"),
        ),
        (
            'retries = "3"\n',
            "day",
            (
                "4:11: SCH300 retries: expected an integer such as"
                ' 3, got "3" (write retries = 3 without quotes)'
            ),
        ),
        (
            "timeout = 0\n",
            "day",
            (
                "4:11: SCH306 timeout: expected a positive number of"
                ' seconds or a duration such as "30s", "10m", got 0'
            ),
        ),
        (
            'immediately = "true"\n',
            "day",
            ('4:15: SCH300 immediately: expected a boolean (true or false), got "true"'),
        ),
    ],
)
def test_common_mistakes_are_worded_and_placed(extra: str, every: str, expected: str) -> None:
    """`expected` is "LINE:COLUMN: CODE KEY: MESSAGE (HINT)" for the job's table."""
    place, code, rest = expected.split(" ", 2)
    assert one_issue(extra, every)[4] == f"pyproject.toml:{place} {code} tool.scheduled.job.{rest}"


def test_every_problem_of_a_job_is_reported_at_once() -> None:
    text = HEADER.format(every="day") + (
        'at = "25:00"\ntimezone = "Nowhere/City"\noverlap = "never"\nretries = -2\n'
    )
    report = validate(text, now=NOW)
    assert [(i.code, i.path, i.line) for i in report.issues] == [
        ("SCH301", "tool.scheduled.job.at", 4),
        ("SCH302", "tool.scheduled.job.timezone", 5),
        ("SCH306", "tool.scheduled.job.overlap", 6),
        ("SCH306", "tool.scheduled.job.retries", 7),
    ]


# --- the promise --------------------------------------------------------------------------

REPORT = (
    '[tool.scheduled.report]\nevery = "day"\nentrypoint = "app:report"\ncron = "0 9 * * mon-fri"\n'
)
ISSUE_EXAMPLE = (
    'tool.scheduled.report.cron: "0 9 * * mon-fri" leaves Saturday 2026-11-28 (UTC) without a'
    ' run, but every = "day" promises one per day; use every = "week"'
)


def test_broken_promise_is_the_issue_example() -> None:
    report = validate(REPORT, now=NOW)
    assert report.valid
    warning = next(i for i in report.issues if i.code == "SCH310")
    assert warning.severity is Severity.WARNING
    assert (warning.line, warning.column) == (4, 8)
    assert f"{warning.path}: {warning.message}" == ISSUE_EXAMPLE


def test_the_library_proves_from_a_fixed_start_without_now() -> None:
    warning = next(i for i in validate(REPORT).issues if i.code == "SCH310")
    assert "Saturday 2000-01-01 (UTC)" in warning.message


def test_cli_broken_promise_warns_and_fails_under_strict(run_cli: RunCli, tmp_path: Path) -> None:
    write_project(tmp_path, REPORT)
    now = ("--now", "2026-11-24T00:00:00Z")
    plain = run_cli("validate", *now, cwd=tmp_path)
    assert plain.returncode == 0, plain.stdout
    assert f"pyproject.toml:4:8: SCH310 {ISSUE_EXAMPLE}\n" in plain.stdout
    assert plain.stdout.endswith("pyproject.toml: ok, 1 job, 1 warning\n")
    strict = run_cli("validate", "--strict", *now, cwd=tmp_path)
    assert strict.returncode == 1
    assert strict.stdout.endswith("pyproject.toml: invalid, 1 job, 1 warning\n")


def test_kept_promise_has_no_warning() -> None:
    text = REPORT.replace('"day"', '"week"')
    assert [i.code for i in validate(text, now=NOW).issues] == ["SCH320"]


def test_cron_that_can_never_fire_is_an_error_everywhere(run_cli: RunCli, tmp_path: Path) -> None:
    text = REPORT.replace("0 9 * * mon-fri", "0 0 30 2 *")
    with pytest.raises(InvalidProject) as caught:
        load(text)
    assert [i.code for i in caught.value.errors] == ["SCH311"]
    write_project(tmp_path, text)
    assert run_cli("validate", cwd=tmp_path).returncode == 1


def test_exhausted_year_field_is_an_error_from_now_on() -> None:
    text = REPORT.replace("0 9 * * mon-fri", "0 0 1 * * 2025")
    (error,) = validate(text, now=NOW).issues[1:]
    assert (error.code, error.message) == (
        "SCH311",
        '"0 0 1 * * 2025" never runs in or after 2026-11-24 (UTC)',
    )
    assert validate(text, now=datetime(2024, 1, 1, tzinfo=UTC)).valid


def test_one_proof_serves_many_jobs() -> None:
    from scheduled_spec import extensions  # noqa: PLC0415

    jobs = "".join(
        f'[tool.scheduled.j{n}]\nevery = "week"\nentrypoint = "a:b"\ncron = "5 4 * * 1-5"\n'
        for n in range(300)
    )
    extensions._prove.cache_clear()
    validate(jobs, now=NOW)
    assert extensions._prove.cache_info().misses == 1


# --- portability --------------------------------------------------------------------------


def test_portable_turns_the_extension_note_into_an_error(run_cli: RunCli, tmp_path: Path) -> None:
    text = REPORT.replace('"day"', '"week"') + "retries = 2\n"
    (note,) = validate(text).issues
    assert (note.code, note.severity, note.path, note.line, note.column) == (
        "SCH320", Severity.INFO, "tool.scheduled.report", 1, 17,
    )  # fmt: skip
    assert note.message.startswith("uses the extension keys cron, retries: providers that")
    assert validate(text, portable=True).issues[0].severity is Severity.ERROR
    write_project(tmp_path, text)
    assert run_cli("validate", cwd=tmp_path).returncode == 0
    result = run_cli("validate", "--portable", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    (issue,) = json.loads(result.stdout)["files"][0]["issues"]
    assert (issue["code"], issue["severity"]) == ("SCH320", "error")


def test_plain_validate_loads_no_extension_code(tmp_path: Path) -> None:
    """Start-up speed: a project without extensions never imports cron, at or zoneinfo."""
    write_project(tmp_path, '[tool.scheduled.a]\nevery = "day"\nentrypoint = "a:b"\n')
    code = (
        "import sys\nfrom scheduled_spec.cli import main\nsys.argv = ['scheduled', 'validate']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = {'scheduled_spec.extensions', 'scheduled_spec.cron', 'scheduled_spec.at',"
        " 'scheduled_spec.triggers', 'scheduled_spec.promise', 'scheduled_spec.local_periods'}\n"
        "from scheduled_spec.models import Job\n"
        "print(sorted(heavy & set(sys.modules)), Job.__pydantic_complete__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[] False"


# --- show ---------------------------------------------------------------------------------

SHOWN = """\
[tool.scheduled.nightly]
every = "day"
entrypoint = "app:nightly"
at = "22:15:30"
timezone = "Europe/Stockholm"

[tool.scheduled.beat]
every = "minute"
entrypoint = "app:beat"
interval = 20

[tool.scheduled.report]
every = "month"
entrypoint = "app:report"
cron = "30 5 * jan,mar Ltue"
"""


def test_show_table_names_schedules_local_times_and_extensions(
    run_cli: RunCli, tmp_path: Path
) -> None:
    write_project(tmp_path, SHOWN)
    result = run_cli("show", "--now", "2026-11-24T00:00:00Z", "--count", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == [
        "JOB", "EVERY", "ENTRYPOINT", "SCHEDULE", "NEXT", "RUNS", "(UTC)", "LOCAL", "TIME",
    ]  # fmt: skip
    assert lines[2].split() == [
        "nightly", "day", "app:nightly", "every", "day", "at", "22:15:30", "Europe/Stockholm",
        "2026-11-24T21:15:30Z", "2026-11-24T22:15:30+01:00",
    ]  # fmt: skip
    assert lines[3].split() == ["2026-11-25T21:15:30Z", "2026-11-25T22:15:30+01:00"]
    assert "every 20 s (phase 9.52 s)" in lines[4]
    assert lines[4].split()[-1] == "2026-11-24T00:00:09.520Z"
    assert 'cron "30 5 * jan,mar Ltue" (UTC), at least once per month' in lines[6]
    assert lines[6].split()[-1] == "2027-01-26T05:30:00Z"
    assert lines[7].split() == ["2027-03-30T05:30:00Z"]
    assert lines[8:] == [
        "nightly: extension keys at, timezone (not portable; see SPEC.md 9)",
        "beat: extension keys interval (not portable; see SPEC.md 9)",
        "report: extension keys cron (not portable; see SPEC.md 9)",
    ]


def test_show_json_adds_fields_for_extensions(run_cli: RunCli, tmp_path: Path) -> None:
    write_project(tmp_path, SHOWN + '\n[tool.scheduled.plain]\nevery = "day"\nentrypoint = "a:b"\n')
    result = run_cli("show", "--now", "2026-03-29T00:00:00Z", "--format", "json", cwd=tmp_path)
    nightly, beat, report, plain = json.loads(result.stdout)["jobs"]
    assert nightly["timezone"] == "Europe/Stockholm"
    assert nightly["next_runs"][:2] == ["2026-03-29T20:15:30Z", "2026-03-30T20:15:30Z"]
    assert nightly["next_runs_local"][:2] == [
        "2026-03-29T22:15:30+02:00",
        "2026-03-30T22:15:30+02:00",
    ]
    assert nightly["offset_seconds"] is None
    assert nightly["extensions"] == ["at", "timezone"]
    assert beat["schedule"] == beat["slot"] == "every 20 s (phase 9.52 s)"
    assert "timezone" not in beat
    assert report["next_runs"][:2] == ["2026-03-31T05:30:00Z", "2027-01-26T05:30:00Z"]
    assert set(plain) == {"id", "every", "entrypoint", "offset_seconds", "slot", "next_runs"}


# --- next_run and runs_between, per kind -------------------------------------------------


def job(every: str = "day", **keys: object) -> Job:
    return Job.model_validate({"id": "clean-files", "every": every, "entrypoint": "a:b", **keys})


KINDS = [
    job(),
    job(at="22:15:30"),
    job(timezone="Europe/Stockholm"),
    job(at="02:30", timezone="Europe/Stockholm"),
    job("week", at="sun 02:30", timezone="America/New_York"),
    job("hour", timezone="Australia/Lord_Howe"),
    job(cron="*/7 9-17 * * mon-fri"),
    job("month", cron="30 5 * jan,mar Ltue", timezone="Europe/Stockholm"),
    job("minute", interval=20),
    job("minute", interval="1.5s"),
    job("month", at="28 23:59:59", timezone="Australia/Lord_Howe"),
]
INSTANTS = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2039, 12, 31), timezones=st.just(UTC)
)


@pytest.mark.parametrize("kind", KINDS, ids=describe_schedule)
@given(after=INSTANTS)
def test_next_run_is_strictly_after_and_runs_between_agrees(kind: Job, after: datetime) -> None:
    """SPEC 5.4: "`next_run(after)` is the first run strictly after `after`"."""
    first = next_run(kind, after)
    assert first.at > after
    window = list(islice(runs_between(kind, after, first.at + timedelta(days=400)), 6))
    assert window[0] == first or window[0].at == after
    assert all(a.at < b.at for a, b in pairwise(window))
    for run in window[:5]:
        assert next_run(kind, run.at - timedelta(microseconds=1)) == run


def test_interval_ticks_and_keys_follow_the_phase() -> None:
    beat = job("minute", interval=0.5)
    runs = list(runs_between(beat, NOW, NOW + timedelta(seconds=2)))
    assert [r.period for r in runs] == [
        "2026-11-24T00:00:00.312Z",
        "2026-11-24T00:00:00.812Z",
        "2026-11-24T00:00:01.312Z",
        "2026-11-24T00:00:01.812Z",
    ]
    salted = next_run(beat, NOW, salt="tenant-a")  # phase 260 ms: the slot key with its salt
    assert salted.period == "2026-11-24T00:00:00.260Z"
    whole = next_run(job("minute", interval=20), NOW + timedelta(seconds=7.312))
    assert whole.period == "2026-11-24T00:00:27.312Z"


def test_cron_run_key_is_its_instant() -> None:
    run = next_run(job(cron="0 9 * * mon-fri"), NOW)
    assert (run.period, run.at) == ("2026-11-24T09:00:00Z", datetime(2026, 11, 24, 9, tzinfo=UTC))


def test_cron_without_runs_left_raises() -> None:
    with pytest.raises(ValueError, match="has no run after"):
        next_run(job("month", cron="0 0 1 * * 2025"), NOW)
    assert list(runs_between(job("month", cron="0 0 1 * * 2025"), NOW, NOW + timedelta(1))) == []


@pytest.mark.parametrize("zone", ["Europe/Stockholm", "America/New_York", "Australia/Lord_Howe"])
@pytest.mark.parametrize(
    ("every", "keys"),
    [
        ("day", {"at": "02:30"}),
        ("day", {"at": "01:45:10"}),
        ("day", {}),
        ("hour", {"at": ":15"}),
        ("hour", {}),
        ("week", {"at": "sun 02:15"}),
    ],
)
def test_one_run_per_local_period_across_every_dst_transition(
    zone: str, every: str, keys: dict[str, str]
) -> None:
    """SPEC 9.3.7: "Every local period gets exactly one run" (2000 to 2040)."""
    tz = ZoneInfo(zone)
    subject = job(every, timezone=zone, **keys)
    for change in transitions(tz, datetime(2000, 1, 1, tzinfo=UTC), 40):
        start, end = change.at - timedelta(days=2), change.at + timedelta(days=2)
        runs = list(runs_between(subject, start, end))
        keys_seen = [r.period for r in runs]
        assert len(set(keys_seen)) == len(keys_seen), keys_seen
        for run in runs:
            period = period_containing(subject.every, run.at, tz)
            assert period.key == run.period, (run, period)
        # Every local period lying inside the window holds one run.
        t = period_containing(subject.every, start, tz).end
        while True:
            period = period_containing(subject.every, t, tz)
            if period.end > end:
                break
            assert sum(period.start <= r.at < period.end for r in runs) == 1, (period, runs)
            t = period.end


def test_readme_extension_examples_are_valid_and_keep_their_promise() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Extensions", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```toml\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 5
    for block in blocks:
        report = validate(block, now=NOW)
        assert [i.code for i in report.issues] == ["SCH320"], (block, report.issues)


def test_more_than_one_schedule_still_reports_each_value() -> None:
    text = HEADER.format(every="day") + 'at = "09:00"\ncron = "0 25 * * *"\nentrypoint2 = 1\n'
    assert [(i.code, i.path) for i in validate(text, now=NOW).issues] == [
        ("SCH303", "tool.scheduled.job.cron"),
        ("SCH305", "tool.scheduled.job.cron"),
        ("SCH017", "tool.scheduled.job.entrypoint2"),
    ]


def test_export_refuses_only_the_schedules_the_target_cannot_say(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """A 20 s interval and a last Tuesday are not crontab lines; an `at` in a zone is
    (tests/test_export_extensions.py checks each kind against the real tools)."""
    write_project(
        tmp_path,
        SHOWN + '\n[tool.scheduled.policy]\nevery = "day"\nentrypoint = "a:b"\nretries = 2\n',
    )
    result = run_cli("export", "crontab", cwd=tmp_path)
    assert result.returncode == 1
    for job_id in ("beat", "report"):
        assert f'job "{job_id}": ' in result.stderr
    assert "nightly" not in result.stderr
    assert "policy" not in result.stderr
