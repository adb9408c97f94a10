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
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from croniter import croniter

from scheduled_spec import Project, load, next_run
from scheduled_spec.export import ExportError, ExportOptions, export
from tests.conftest import RunCli, write_project
from tests.test_export import HOSTILE, fake_scheduled

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
    validated = subprocess.run(
        [
            str(Path(sys.executable).parent / "kubernetes-validate"),
            "--strict",
            "--quiet",
            *map(str, out.iterdir()),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr


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


def refusal(target: str, body: str, tmp_path: Path, **extra: Any) -> ExportError:
    write_project(tmp_path, project_text({"job": body}))
    options = ExportOptions(project_dir=tmp_path, image="app:1", **extra)
    with pytest.raises(ExportError) as caught:
        export(target, load(tmp_path / "pyproject.toml"), options)
    assert caught.value.jobs == ("job",)
    return caught.value


CRON_REFUSALS = [
    (
        'every = "minute"\ninterval = 20',
        (
            'job "job": interval = 20 is not a whole number of minutes, and cron starts jobs on'
            " whole minutes only"
        ),
    ),
    (
        'every = "hour"\ninterval = "11m"',
        (
            'job "job": interval = 660: no minute, hour, day or week holds a whole number of'
            " intervals, so the ticks (anchored to the Unix epoch) fall at other times in each one"
        ),
    ),
    (
        'every = "month"\ncron = "0 18 L * *"',
        'job "job": cron = "0 18 L * *": "L" (the last day of the month) is not standard cron',
    ),
    (
        'every = "month"\ncron = "30 5 * * Ltue"',
        (
            'job "job": cron = "30 5 * * Ltue": "L<weekday>" (the last such weekday of a month) is'
            " not standard cron"
        ),
    ),
    (
        'every = "month"\ncron = "0 12 1 * * 2026-2028"',
        'job "job": cron = "0 12 1 * * 2026-2028": standard cron has no year field',
    ),
    (
        'every = "month"\ncron = "0 0 */2 * mon"',
        (
            'job "job": cron = "0 0 */2 * mon": day-of-month and day-of-week are both restricted'
            ' and must both match (one of them starts with "*"), and cron daemons disagree on'
            " that form (Vixie cron and cronie require both, busybox crond and Kubernetes either)"
        ),
    ),
]


@pytest.mark.parametrize("target", ["crontab", "kubernetes", "github-actions"])
@pytest.mark.parametrize(("body", "message"), CRON_REFUSALS)
def test_cron_targets_refuse_what_standard_cron_cannot_say(
    target: str, body: str, message: str, tmp_path: Path
) -> None:
    error = refusal(target, body, tmp_path)
    if target == "github-actions" and "interval = 20" in body:
        message = (
            'job "job": interval = 20 cannot run on GitHub Actions, whose schedules run at most'
            " once every 5 minutes"
        )
    assert error.reasons == [message]


def test_systemd_refuses_intervals_without_a_calendar_cycle(tmp_path: Path) -> None:
    error = refusal("systemd", 'every = "hour"\ninterval = "11m"', tmp_path)
    assert error.reasons == [CRON_REFUSALS[1][1]]
    error = refusal("systemd", 'every = "hour"\ninterval = 128', tmp_path)
    assert error.reasons == [
        (
            'job "job": interval = 128: its ticks repeat only every day and would need 120'
            " calendar entries (at most 60 are written)"
        )
    ]
    error = refusal("systemd", 'every = "month"\ncron = "0 0 */2 * Ltue"', tmp_path)
    assert error.reasons == [
        (
            'job "job": cron = "0 0 */2 * Ltue": day-of-month and day-of-week must both match and'
            ' the day-of-week has "L<weekday>": a systemd date cannot be both a list of days and'
            " among the last seven"
        )
    ]


def test_kubernetes_refuses_a_schedule_of_two_lines(tmp_path: Path) -> None:
    error = refusal("kubernetes", 'every = "day"\ninterval = "90m"', tmp_path)
    [reason] = error.reasons
    assert reason.startswith('job "job": interval = 5400 needs 2 cron lines (')
    assert reason.endswith("), and a CronJob has one schedule")


def test_github_actions_refuses_runs_closer_than_five_minutes(tmp_path: Path) -> None:
    error = refusal("github-actions", 'every = "hour"\ncron = "0,2 * * * *"', tmp_path)
    assert error.reasons == [
        (
            'job "job": cron = "0,2 * * * *" runs 2 minutes apart, and GitHub Actions\' schedules'
            " run at most once every 5 minutes"
        )
    ]


def test_github_actions_refuses_one_cron_text_in_two_zones(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        project_text(
            {
                "here": 'every = "day"\ncron = "0 9 * * *"',
                "there": 'every = "day"\ncron = "0 9 * * *"\ntimezone = "Asia/Tokyo"',
            }
        ),
    )
    with pytest.raises(ExportError) as caught:
        export("github-actions", load(tmp_path / "pyproject.toml"), ExportOptions(Path()))
    assert caught.value.jobs == ("there",)
    assert caught.value.reasons == [
        (
            'job "there": its schedule "0 9 * * *" (Asia/Tokyo) is also job "here"\'s in UTC, and a'
            " workflow tells its schedules apart by the cron text only (github.event.schedule)"
        )
    ]


def test_skip_unsupported_leaves_out_only_the_refused_jobs(run_cli: RunCli, tmp_path: Path) -> None:
    write_project(tmp_path, project_text({**CRON_SAFE, "beat": SYSTEMD_ONLY["beat"]}))
    refused = run_cli("export", "crontab", cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert (
        'pyproject.toml: cannot export to crontab:\n  job "beat": interval = 20 is not a whole'
        " number of minutes" in refused.stderr
    )
    kept = run_cli("export", "crontab", "--skip-unsupported", cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert 'warning: left out: job "beat": interval = 20' in kept.stderr
    assert set(crontab_entries(kept.stdout)) == set(CRON_SAFE)


POLICY = (
    'every = "day"\ncron = "0 9 * * *"\ntimeout = 90\nretries = 4\noverlap = "{overlap}"\n'
    'catch-up = "{catch_up}"\nimmediately = true'
)


def policy_project(tmp_path: Path, overlap: str = "skip", catch_up: str = "none") -> Project:
    write_project(
        tmp_path, project_text({"job": POLICY.format(overlap=overlap, catch_up=catch_up)})
    )
    return load(tmp_path / "pyproject.toml")


def test_kubernetes_maps_the_run_policy(tmp_path: Path) -> None:
    options = ExportOptions(project_dir=Path(), image="app:1")
    [file] = export("kubernetes", policy_project(tmp_path, "allow"), options)
    spec = yaml.safe_load(file.text)["spec"]
    assert spec["concurrencyPolicy"] == "Allow"
    assert spec["startingDeadlineSeconds"] == 60
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 4
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 120
    assert "immediately = true is not enforced: a CronJob has no start-up run" in comments(
        file.text
    )
    [file] = export("kubernetes", policy_project(tmp_path, "buffer-one", "all"), options)
    assert yaml.safe_load(file.text)["spec"]["concurrencyPolicy"] == "Forbid"
    said = comments(file.text)
    assert 'overlap = "buffer-one" is not enforced: a CronJob has no queue of one' in said
    assert 'catch-up = "all" is not enforced: the CronJob controller starts only' in said


def test_systemd_maps_the_run_policy(tmp_path: Path) -> None:
    files = export("systemd", policy_project(tmp_path), ExportOptions(project_dir=tmp_path))
    service, timer = (f.text for f in files)
    assert "TimeoutStartSec=120s\n" in service
    assert "Persistent=false\n" in timer
    assert "OnStartupSec=1s\n" in timer
    assert 'job "job": retries = 4 is not enforced' in comments(timer)
    assert "overlap" not in timer  # skip: systemd never starts a running service again


def test_crontab_maps_what_it_can_and_says_the_rest(tmp_path: Path) -> None:
    [file] = export("crontab", policy_project(tmp_path), ExportOptions(project_dir=tmp_path))
    assert f"@reboot scheduled run-once -- job {tmp_path}\n" in file.text
    said = comments(file.text)
    assert 'job "job": overlap = "skip" is not enforced: cron starts every entry' in said
    assert 'job "job": retries = 4 is not enforced' in said
    assert "catch-up" not in file.text  # none: cron never runs a missed entry


def test_github_actions_queues_one_run_for_buffer_one(tmp_path: Path) -> None:
    project = policy_project(tmp_path, "buffer-one", "latest")
    [file] = export("github-actions", project, ExportOptions(project_dir=Path()))
    job = yaml.safe_load(file.text)["jobs"]["job"]
    assert job["concurrency"] == {"group": "scheduled-job", "cancel-in-progress": False}
    assert job["steps"][-1]["timeout-minutes"] == 2
    said = comments(file.text)
    assert 'catch-up = "latest" is not enforced: GitHub never runs a schedule it missed' in said


def test_an_id_that_looks_like_an_option_runs_its_job(run_cli: RunCli, tmp_path: Path) -> None:
    """`--` ends run-once's options: the crontab line of job "--help" runs that job."""
    write_project(
        tmp_path,
        '[tool.scheduled."--help"]\nevery = "day"\nentrypoint = "marker:touch"\n',
    )
    (tmp_path / "marker.py").write_text(
        "from pathlib import Path\n\ndef touch():\n    Path('ran').write_text('yes')\n"
    )
    scheduled = Path(sys.executable).parent / "scheduled"
    text = run_cli("export", "crontab", "--command", str(scheduled), cwd=tmp_path).stdout
    [line] = [x for x in text.splitlines() if x and not x.startswith(("#", "CRON_TZ"))]
    result = subprocess.run(
        ["/bin/sh", "-c", line.split(" ", 5)[5]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "ran").read_text() == "yes"


def test_skip_unsupported_repeats_until_what_is_left_exports(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """GitHub Actions refuses a 20 s interval first, then one cron text in two zones."""
    write_project(
        tmp_path,
        project_text(
            {
                "beat": SYSTEMD_ONLY["beat"],
                "here": 'every = "day"\ncron = "0 9 * * *"',
                "there": 'every = "day"\ncron = "0 9 * * *"\ntimezone = "Asia/Tokyo"',
            }
        ),
    )
    result = run_cli("export", "github-actions", "--skip-unsupported", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: left out: ") == 2
    assert 'left out: job "beat": interval = 20 cannot run on GitHub Actions' in result.stderr
    assert 'left out: job "there": its schedule "0 9 * * *" (Asia/Tokyo)' in result.stderr
    assert list(yaml.safe_load(result.stdout)["jobs"]) == ["here"]


def test_hostile_ids_stay_data_in_extension_exports(run_cli: RunCli, tmp_path: Path) -> None:
    """Comments now name jobs too (DST, run policy): an ID still cannot break a file out."""
    body = (
        'every = "week"\ncron = "0 9 * * mon-fri"\ntimezone = "Europe/Stockholm"\n'
        'retries = 1\noverlap = "skip"\nimmediately = true'
    )
    write_project(tmp_path, project_text(dict.fromkeys(HOSTILE, body)))
    log = fake_scheduled(tmp_path)
    out = tmp_path / "out"
    for target, extra in (("systemd", []), ("kubernetes", ["--image", "a:1"]), ("crontab", [])):
        result = run_cli("export", target, "-o", str(out / target), *extra, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, (out / "systemd").iterdir())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.stderr == "", verified.stderr
    validated = subprocess.run(
        [
            str(Path(sys.executable).parent / "kubernetes-validate"),
            "--strict",
            "--quiet",
            *map(str, (out / "kubernetes").iterdir()),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    crontab = (out / "crontab" / "crontab").read_text()
    for line in crontab.splitlines():
        if line.startswith("@reboot "):
            command = line.removeprefix("@reboot ")
        elif line and not line.startswith(("#", "CRON_TZ")):
            command = line.split(" ", 5)[5]
        else:
            continue
        subprocess.run(
            ["/bin/sh", "-c", command.replace("\\%", "%")],
            cwd=tmp_path,
            check=True,
            env={**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"},
        )
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [["run-once", "--", i, str(tmp_path)] for i in HOSTILE for _ in range(2)]
    assert not (tmp_path / "pwned").exists()
    doc = yaml.safe_load(run_cli("export", "github-actions", cwd=tmp_path).stdout)
    assert [job["name"] for job in doc["jobs"].values()] == HOSTILE
