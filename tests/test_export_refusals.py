"""Extension schedules a target cannot say are refused with the job and the reason, exactly;
`--skip-unsupported` leaves out those jobs and only those."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scheduled_spec import load
from scheduled_spec.export import ExportError, ExportOptions, export
from tests.conftest import RunCli, write_project
from tests.test_export_extensions import CRON_SAFE, SYSTEMD_ONLY, crontab_entries, project_text


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
    assert reason.endswith(
        "), and a CronJob has one schedule (and several CronJobs would not keep overlap"
        " between them)"
    )


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
