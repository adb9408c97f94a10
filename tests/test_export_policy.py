"""Run policy keys are mapped where a target has an equivalent and named in a comment where
not; job IDs (hostile ones too) stay data in every file an extension export writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from scheduled_spec import Project, load
from scheduled_spec.export import ExportOptions, export
from tests.conftest import RunCli, assert_valid_kubernetes, write_project
from tests.test_export import HOSTILE, fake_scheduled
from tests.test_export_extensions import comments, project_text

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
    assert_valid_kubernetes((out / "kubernetes").iterdir())
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
