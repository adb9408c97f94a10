"""Extension schedules export to the instants `scheduled show` lists, or are refused.

The oracle is the library (`next_run`, what `scheduled show` prints); the exported schedule
is read back by the real tools: croniter for crontab, CronJob and workflow cron lines (in
their time zone), `systemd-analyze calendar` for OnCalendar=, `kubernetes-validate` and
`systemd-analyze verify` for the files as a whole. Windows in a DST zone avoid its
transition days; `test_systemd_on_transition_days_*` states what happens on them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from croniter import croniter

from scheduled_spec import Project, load, next_run
from scheduled_spec.export import ExportOptions, export
from tests.conftest import assert_valid_kubernetes, write_project

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
COUNT = 8
UTC = timezone.utc

# Every kind of extension schedule that five-field cron can say (to the minute).
CRON_SAFE = {
    "at-local": 'every = "day"\nat = "22:15:30"\ntimezone = "Europe/Stockholm"',
    "at-week": 'every = "week"\nat = "fri 17:00:45"',
    "at-month-local": 'every = "month"\nat = "3 06:30"\ntimezone = "America/New_York"',
    "slot-local": 'every = "month"\ntimezone = "America/New_York"',
    "slot-half-hour-zone": 'every = "hour"\ntimezone = "Asia/Kolkata"',
    "cron-weekdays": 'every = "week"\ncron = "0 9 * * mon-fri"',
    "cron-either-day": 'every = "month"\ncron = "0 0 13 * fri"',
    "cron-odd-days": 'every = "week"\ncron = "30 6 */2 * *"',
    "cron-local": 'every = "week"\ncron = "*/15 8-17 * * 1-5"\ntimezone = "Europe/Stockholm"',
    "cron-alias": 'every = "day"\ncron = "@daily"\ntimezone = "Asia/Tokyo"',
    "interval-5m": 'every = "hour"\ninterval = "5m"',
    "interval-2h": 'every = "day"\ninterval = "2h"\ntimezone = "Europe/Stockholm"',
    "interval-90m": 'every = "day"\ninterval = "90m"',
    "interval-7m": 'every = "hour"\ninterval = "7m"',
    "interval-week": 'every = "month"\ninterval = "168h"',
}
# Intervals whose ticks need several cron lines (a CronJob has one schedule).
MULTI_LINE = {"interval-90m", "interval-7m"}
# What only systemd can say.
SYSTEMD_ONLY = {
    "last-day": 'every = "month"\ncron = "0 18 L * *"',
    "last-tuesday": 'every = "month"\ncron = "30 5 * jan,mar Ltue"',
    "either-last-friday": 'every = "month"\ncron = "0 7 1,15 * Lfri"',
    "years": 'every = "month"\ncron = "0 12 1 * * 2026-2028"',
    "both-days": 'every = "month"\ncron = "0 0 */2 * mon"',
    "beat": 'every = "minute"\ninterval = 20',
    "fast": 'every = "minute"\ninterval = 1.5',
    "forty-five": 'every = "minute"\ninterval = 45',
}


def project_text(jobs: dict[str, str]) -> str:
    return "".join(
        f'[tool.scheduled.{json.dumps(job_id)}]\nentrypoint = "app:run"\n{body}\n\n'
        for job_id, body in jobs.items()
    )


def promised(project: Project, job_id: str, count: int = COUNT) -> list[datetime]:
    """The next runs after NOW, as `scheduled show` lists them."""
    job, after, found = project.job(job_id), NOW, []
    for _ in range(count):
        after = next_run(job, after).at
        found.append(after)
    return found


def cron_fires(lines: list[str], zone: str, count: int = COUNT) -> list[datetime]:
    """The first `count` instants of the union of cron lines, read in `zone` by croniter."""
    start = (NOW - timedelta(seconds=1)).astimezone(ZoneInfo(zone))
    fires: set[datetime] = set()
    for line in lines:
        it = croniter(line, start)
        fires.update(it.get_next(datetime).astimezone(UTC) for _ in range(count))
    return sorted(fires)[:count]


def to_minute(instants: list[datetime]) -> list[datetime]:
    return [t.replace(second=0, microsecond=0) for t in instants]


def to_second(instants: list[datetime]) -> list[datetime]:
    return [t.replace(microsecond=0) for t in instants]


def calendar_fires(
    expressions: list[str], count: int = COUNT, base: datetime = NOW
) -> list[datetime]:
    """The first `count` elapses of the union of OnCalendar= values, by systemd-analyze."""
    fires: set[datetime] = set()
    for expression in expressions:
        out = subprocess.run(
            [
                "systemd-analyze",
                "calendar",
                f"--iterations={count}",
                f"--base-time={base:%Y-%m-%d %H:%M:%S} UTC",
                expression,
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TZ": "UTC"},
        ).stdout
        elapses = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) UTC", out)
        fires.update(datetime.fromisoformat(t + "+00:00") for t in elapses)
    return sorted(fires)[:count]


def comments(text: str) -> str:
    """The comment lines of an output joined into one text (they are wrapped)."""
    return " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))


def crontab_entries(text: str) -> dict[str, tuple[str, list[str]]]:
    """{job ID: (CRON_TZ, cron lines)} read from a crontab, the ID from each command."""
    zone, found = "", dict[str, tuple[str, list[str]]]()
    for line in text.splitlines():
        if line.startswith("CRON_TZ="):
            zone = line.removeprefix("CRON_TZ=")
        elif line and not line.startswith(("#", "@reboot")):
            fields = line.split(" ", 5)
            argv = shlex.split(fields[5])
            assert argv[:3] == ["scheduled", "run-once", "--"]
            found.setdefault(argv[3], (zone, []))[1].append(" ".join(fields[:5]))
    return found


@pytest.fixture
def cron_project(tmp_path: Path) -> Project:
    write_project(tmp_path, project_text(CRON_SAFE))
    return load(tmp_path / "pyproject.toml")


def test_crontab_round_trips_every_extension_kind(cron_project: Project, tmp_path: Path) -> None:
    [file] = export("crontab", cron_project, ExportOptions(project_dir=tmp_path))
    entries = crontab_entries(file.text)
    assert set(entries) == set(CRON_SAFE)
    for job_id, (zone, lines) in entries.items():
        job = cron_project.job(job_id)
        expected_zone = "UTC" if job.interval is not None else (job.timezone or "UTC")
        assert zone == expected_zone, job_id
        fires = cron_fires(lines, zone)
        assert fires == to_minute(promised(cron_project, job_id)), job_id
    said = comments(file.text)
    assert "CRON_TZ is honoured by cronie" in said
    # Stockholm and New York change their clocks: the comment says what cron may do then
    # (Kolkata and Tokyo do not; an interval's ticks are UTC whatever its zone).
    assert "cron daemons differ there, and may skip, move or repeat such a run" in said
    assert 'Jobs: "at-local", "cron-local".' in said
    assert 'Jobs: "at-month-local", "slot-local".' in said
    assert "Asia/Tokyo changes" not in said
    assert "Asia/Kolkata changes" not in said
    assert "the seconds of each slot are dropped" in said


def test_kubernetes_round_trips_every_single_line_kind(
    cron_project: Project, tmp_path: Path
) -> None:
    single = cron_project.model_copy(
        update={"jobs": tuple(j for j in cron_project.jobs if j.id not in MULTI_LINE)}
    )
    files = export("kubernetes", single, ExportOptions(project_dir=Path(), image="app:1"))
    out = tmp_path / "k8s"
    out.mkdir()
    for file in files:
        (out / file.name).write_text(file.text)
        manifest = yaml.safe_load(file.text)
        job_id = manifest["metadata"]["annotations"]["scheduled-spec/job-id"]
        zone = manifest["spec"]["timeZone"]
        fires = cron_fires([manifest["spec"]["schedule"]], zone)
        assert fires == to_minute(promised(cron_project, job_id)), job_id
    assert_valid_kubernetes(out.iterdir())


def test_github_actions_round_trips_with_timezones(cron_project: Project) -> None:
    [file] = export("github-actions", cron_project, ExportOptions(project_dir=Path()))
    doc = yaml.safe_load(file.text)
    zones = {entry["cron"]: entry.get("timezone", "UTC") for entry in doc["on"]["schedule"]}
    for job in doc["jobs"].values():
        crons = re.findall(r"github\.event\.schedule == '([^']*)'", job["if"])
        fires = sorted({t for cron in crons for t in cron_fires([cron], zones[cron])})[:COUNT]
        assert fires == to_minute(promised(cron_project, job["name"])), job["name"]
    said = comments(file.text)
    assert "GitHub moves a run whose wall time does not exist to the end of the gap" in said


def test_systemd_round_trips_every_extension_kind(tmp_path: Path) -> None:
    jobs = {**CRON_SAFE, **SYSTEMD_ONLY}
    write_project(tmp_path, project_text(jobs))
    project = load(tmp_path / "pyproject.toml")
    files = {
        f.name: f.text for f in export("systemd", project, ExportOptions(project_dir=tmp_path))
    }
    for job_id in jobs:
        timer = files[f"scheduled-{job_id.replace('-', chr(92) + 'x2d')}.timer"]
        expressions = re.findall(r"^OnCalendar=(.+)$", timer, re.MULTILINE)
        fires = calendar_fires(expressions)
        # systemd-analyze prints whole seconds; the expressions keep the milliseconds.
        assert fires == to_second(promised(project, job_id)), (job_id, expressions)
    beat = files["scheduled-beat.timer"]
    phase = next_run(project.job("beat"), datetime(2026, 1, 1, tzinfo=UTC)).at
    assert f"OnCalendar=*-*-* *:*:{phase:%S}.{phase.microsecond // 1000:03d}/20 UTC\n" in beat
    assert "AccuracySec=1ms\n" in beat
    assert "OnCalendar=Tue *-01,03~07/1 05:30:00 UTC\n" in files["scheduled-last\\x2dtuesday.timer"]
    either = files["scheduled-either\\x2dlast\\x2dfriday.timer"]
    assert re.findall(r"^OnCalendar=(.+)$", either, re.MULTILINE) == [
        "*-*-01,15 07:00:00 UTC",
        "Fri *-*~07/1 07:00:00 UTC",
    ]
    units = tmp_path / "units"
    units.mkdir()
    for name, text in files.items():
        (units / name).write_text(text)
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(units / name) for name in files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.stderr == "", verified.stderr


def test_systemd_on_transition_days_skips_a_nonexistent_wall_time(tmp_path: Path) -> None:
    """Stockholm springs forward on 2027-03-28 (02:00 -> 03:00) and falls back on
    2026-10-25 (03:00 -> 02:00). `scheduled show` runs 02:30 at 03:30 CEST on the first day
    (SPEC.md 9.3.3) and at its first occurrence on the second (9.3.4); systemd skips the
    first and agrees on the second, as the timer's comment says."""
    write_project(
        tmp_path,
        project_text({"early": 'every = "day"\nat = "02:30"\ntimezone = "Europe/Stockholm"'}),
    )
    project = load(tmp_path / "pyproject.toml")
    files = {
        f.name: f.text for f in export("systemd", project, ExportOptions(project_dir=tmp_path))
    }
    timer = files["scheduled-early.timer"]
    said = comments(timer)
    assert "systemd skips a run whose wall time does not exist, and runs a repeated one" in said
    [expression] = re.findall(r"^OnCalendar=(.+)$", timer, re.MULTILINE)
    spring = datetime(2027, 3, 26, 12, tzinfo=UTC)
    ours = [next_run(project.job("early"), spring).at]
    ours.append(next_run(project.job("early"), ours[0]).at)
    ours.append(next_run(project.job("early"), ours[1]).at)
    assert ours[1] == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert calendar_fires([expression], 3, spring) == [
        ours[0],
        ours[2],
        ours[2] + timedelta(days=1),
    ]
    fall = datetime(2026, 10, 24, 12, tzinfo=UTC)
    first = next_run(project.job("early"), fall).at
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first 02:30
    assert calendar_fires([expression], 1, fall) == [first]


def test_a_salt_moves_interval_ticks_and_slots_as_it_moves_the_provider(tmp_path: Path) -> None:
    """SPEC.md 9.6.2: the phase hashes the slot key, the salt included."""
    write_project(
        tmp_path,
        project_text({"beat": SYSTEMD_ONLY["beat"], "slot-local": CRON_SAFE["slot-local"]}),
    )
    project = load(tmp_path / "pyproject.toml")
    options = ExportOptions(project_dir=tmp_path, salt="tenant-42")
    files = {f.name: f.text for f in export("systemd", project, options)}
    for job_id in ("beat", "slot-local"):
        expressions = re.findall(
            r"^OnCalendar=(.+)$",
            files[f"scheduled-{job_id.replace('-', chr(92) + 'x2d')}.timer"],
            re.MULTILINE,
        )
        job, after, runs = project.job(job_id), NOW, []
        for _ in range(COUNT):
            after = next_run(job, after, salt="tenant-42").at
            runs.append(after)
        assert calendar_fires(expressions) == to_second(runs), job_id
        assert runs != promised(project, job_id)  # the salt did move them
