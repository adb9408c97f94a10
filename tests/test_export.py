"""Exports: they fire when `scheduled show` says, pass the real tools, and resist hostile IDs."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from croniter import croniter

from scheduled_spec import load, next_run
from scheduled_spec.export import ExportError, ExportOptions, export
from scheduled_spec.export.names import dns_label
from scheduled_spec.export.systemd import escape_unit_name
from tests.conftest import DEMO, RunCli, assert_valid_kubernetes, write_project

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
HOSTILE = [
    "../../x",
    "it's",
    'say "hi"',
    "$(touch pwned)",
    "`touch pwned`",
    "a;rm -rf b",
    "100%",
    "--help",
    "-rf",
    "café-über",
    "空",
    "x" * 128,
    "Clean_Files",
    "clean-files",
]
NO_MINUTES = {"minute"}


def hostile_project(tmp_path: Path, every: str = "day") -> Path:
    body = "".join(
        f'[tool.scheduled.{json.dumps(job_id)}]\nevery = "{every}"\nentrypoint = "a:b"\n'
        for job_id in HOSTILE
    )
    return write_project(tmp_path, body)


def show_runs(path: Path, count: int = 3) -> dict[str, list[datetime]]:
    """What `scheduled show` promises, from the library (the CLI test checks they agree)."""
    runs: dict[str, list[datetime]] = {}
    for job in load(path).jobs:
        after, found = NOW, []
        for _ in range(count):
            run = next_run(job, after)
            found.append(run.at)
            after = run.at
        runs[job.id] = found
    return runs


def cron_runs(expression: str, count: int = 3) -> list[datetime]:
    """The next fire times; a slot's minute may be NOW itself, so start just before it."""
    it = croniter(expression, NOW - timedelta(seconds=1))
    return [it.get_next(datetime) for _ in range(count)]


def to_minute(instants: list[datetime]) -> list[datetime]:
    return [t.replace(second=0) for t in instants]


def test_crontab_round_trips_to_show(run_cli: RunCli) -> None:
    result = run_cli("export", "crontab", str(DEMO))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "CRON_TZ=UTC\n" in text
    assert "the seconds of each slot are dropped" in text
    promised = show_runs(DEMO / "pyproject.toml")
    lines = [line for line in text.splitlines() if line and not line.startswith(("#", "CRON_TZ"))]
    assert len(lines) == len(promised)
    for line in lines:
        fields = line.split(" ", 5)
        argv = shlex.split(fields[5])
        assert argv[:3] == ["scheduled", "run-once", "--"]
        assert argv[4] == str(DEMO)
        assert to_minute(cron_runs(" ".join(fields[:5]))) == to_minute(promised[argv[3]])


def fake_scheduled(directory: Path) -> Path:
    """A `scheduled` that records its arguments, one JSON line per call."""
    log = directory / "calls.jsonl"
    script = directory / "bin" / "scheduled"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return log


def test_crontab_commands_run_in_a_real_shell_without_injection(
    run_cli: RunCli, tmp_path: Path
) -> None:
    hostile_project(tmp_path)
    log = fake_scheduled(tmp_path)
    text = run_cli("export", "crontab", cwd=tmp_path).stdout
    for line in text.splitlines():
        if line and not line.startswith(("#", "CRON_TZ")):
            command = line.split(" ", 5)[5]
            # cron turns an unescaped % into a newline and removes the backslash of \%.
            assert re.search(r"(?<!\\)%", command) is None
            subprocess.run(
                ["/bin/sh", "-c", command.replace("\\%", "%")],
                cwd=tmp_path,
                check=True,
                env={**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"},
            )
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [["run-once", "--", job_id, str(tmp_path)] for job_id in HOSTILE]
    assert not (tmp_path / "pwned").exists()


def test_systemd_units_match_the_real_tools(run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "units"
    result = run_cli("export", "systemd", str(DEMO), "-o", str(out))
    assert result.returncode == 0, result.stderr
    promised = show_runs(DEMO / "pyproject.toml")
    for job_id, runs in promised.items():
        escaped = subprocess.run(
            ["systemd-escape", "--", job_id], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert escape_unit_name(job_id) == escaped
        timer = (out / f"scheduled-{escaped}.timer").read_text()
        assert "Persistent=true\n" in timer
        assert "AccuracySec=1s\n" in timer
        calendar = re.search(r"^OnCalendar=(.+)$", timer, re.MULTILINE)
        assert calendar is not None
        analyzed = subprocess.run(
            [
                "systemd-analyze",
                "calendar",
                "--iterations=3",
                "--base-time=2026-11-24 00:00:00 UTC",
                calendar.group(1),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TZ": "UTC"},
        ).stdout
        elapses = re.findall(r"(?:Next elapse|Iter\. #\d): \w+ (\S+ \S+) UTC", analyzed)
        assert [datetime.fromisoformat(t + "+00:00") for t in elapses] == runs
        service = (out / f"scheduled-{escaped}.service").read_text()
        assert (
            f'ExecStart="/usr/bin/env" "scheduled" "run-once" "--" "{job_id}" "{DEMO}"' in service
        )


def test_systemd_escapes_hostile_ids_like_systemd_escape(tmp_path: Path) -> None:
    project = load(hostile_project(tmp_path))
    files = export("systemd", project, ExportOptions(project_dir=tmp_path))
    assert len(files) == 2 * len(HOSTILE)
    for job_id in HOSTILE:
        escaped = subprocess.run(
            ["systemd-escape", "--", job_id], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert escape_unit_name(job_id) == escaped
    assert all("/" not in f.name and not f.name.startswith(".") for f in files)


def test_systemd_exec_start_keeps_specifiers_and_variables_literal(tmp_path: Path) -> None:
    write_project(tmp_path, '[tool.scheduled."100%$HOME"]\nevery = "day"\nentrypoint = "a:b"\n')
    files = export("systemd", load(tmp_path), ExportOptions(project_dir=tmp_path))
    service = next(f.text for f in files if f.name.endswith(".service"))
    assert '"run-once" "--" "100%%$$HOME"' in service


def test_kubernetes_manifests_pass_the_openapi_schema(run_cli: RunCli, tmp_path: Path) -> None:
    hostile_project(tmp_path)
    out = tmp_path / "k8s"
    result = run_cli(
        "export",
        "kubernetes",
        "--image",
        "registry.example/app:1",
        "--namespace",
        "jobs",
        "-o",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    files = sorted(out.iterdir())
    assert len(files) == len(HOSTILE)
    assert_valid_kubernetes(files)
    names = set()
    for file in files:
        manifest = yaml.safe_load(file.read_text())
        name = manifest["metadata"]["name"]
        assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name)
        assert len(name) <= 52
        names.add(name)
        spec = manifest["spec"]
        assert spec["timeZone"] == "Etc/UTC"
        assert spec["concurrencyPolicy"] == "Forbid"
        assert manifest["metadata"]["namespace"] == "jobs"
        container = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        job_id = manifest["metadata"]["annotations"]["scheduled-spec/job-id"]
        assert container["command"] == ["scheduled", "run-once", "--", job_id, "."]
    assert len(names) == len(HOSTILE), "distinct jobs never share a name"


def test_kubernetes_schedules_round_trip_to_show() -> None:
    project = load(DEMO)
    files = export("kubernetes", project, ExportOptions(project_dir=Path(), image="app:1"))
    promised = show_runs(DEMO / "pyproject.toml")
    for file in files:
        manifest = yaml.safe_load(file.text)
        job_id = manifest["metadata"]["annotations"]["scheduled-spec/job-id"]
        assert to_minute(cron_runs(manifest["spec"]["schedule"])) == to_minute(promised[job_id])


def test_kubernetes_needs_an_image(run_cli: RunCli) -> None:
    result = run_cli("export", "kubernetes", str(DEMO))
    assert result.returncode == 1
    assert "give the container image that holds the project: --image IMAGE" in result.stderr


@pytest.mark.parametrize(
    "job_id", ["x" * 128, "Clean_Files", "a" * 52, "a" * 53, "-", "é", "job-12345678"]
)
def test_dns_labels_are_valid(job_id: str) -> None:
    label = dns_label(job_id)
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", label)
    assert len(label) <= 52


def workflow(run_cli: RunCli, *args: str, cwd: Path | None = None) -> Any:
    result = run_cli("export", "github-actions", *args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_github_actions_round_trips_and_dispatches(run_cli: RunCli, tmp_path: Path) -> None:
    doc = workflow(run_cli, str(DEMO), "--skip-unsupported")
    promised = show_runs(DEMO / "pyproject.toml")
    del promised["heartbeat"]
    assert doc["on"]["workflow_dispatch"]["inputs"]["job"]["options"] == list(promised)
    crons = {entry["cron"] for entry in doc["on"]["schedule"]}
    for key, job in doc["jobs"].items():
        cron = re.search(r"github\.event\.schedule == '([^']*)'", job["if"])
        assert cron is not None
        assert cron.group(1) in crons
        assert to_minute(cron_runs(cron.group(1))) == to_minute(promised[job["name"]])
        assert key == job["name"]
        assert job["steps"][-1]["env"]["JOB_ID"] == job["name"]


def test_github_actions_refuses_minute_jobs_with_the_reason(run_cli: RunCli) -> None:
    result = run_cli("export", "github-actions", str(DEMO))
    assert result.returncode == 1
    assert 'job "heartbeat": every = "minute" cannot run on GitHub Actions' in result.stderr
    skipped = run_cli("export", "github-actions", str(DEMO), "--skip-unsupported")
    assert skipped.returncode == 0
    assert 'warning: left out: job "heartbeat"' in skipped.stderr


def test_github_actions_hostile_ids_stay_data(run_cli: RunCli, tmp_path: Path) -> None:
    hostile_project(tmp_path)
    doc = workflow(run_cli, cwd=tmp_path)
    assert [job["name"] for job in doc["jobs"].values()] == HOSTILE
    for key, job in doc["jobs"].items():
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key)
        assert job["steps"][-1]["run"] == 'scheduled run-once -- "$JOB_ID" "$PROJECT_DIR"'
        literal = job["if"].split("inputs.job == ", 1)[1]
        assert literal == "'" + job["name"].replace("'", "''") + "'"


def test_output_directory_is_the_only_place_written(run_cli: RunCli, tmp_path: Path) -> None:
    hostile_project(tmp_path)
    out = tmp_path / "out"
    for target, extra in (("systemd", []), ("kubernetes", ["--image", "a:1"]), ("crontab", [])):
        before = {p for p in tmp_path.rglob("*") if not p.is_relative_to(out)}
        result = run_cli("export", target, "-o", str(out / target), *extra, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        after = {p for p in tmp_path.rglob("*") if not p.is_relative_to(out)}
        assert before == after
        assert all(p.parent == out / target for p in (out / target).iterdir())


def test_invalid_project_is_not_exported(run_cli: RunCli, tmp_path: Path) -> None:
    write_project(tmp_path, '[tool.scheduled.a]\nevery = "daily"\nentrypoint = "a:b"\n')
    result = run_cli("export", "crontab", cwd=tmp_path)
    assert result.returncode == 1
    assert "SCH103" in result.stderr
    assert result.stdout == ""


def test_empty_project_cannot_be_exported() -> None:
    project = load("[tool.scheduled]\n")
    with pytest.raises(ExportError, match="declares no jobs"):
        export("crontab", project, ExportOptions(project_dir=Path("/srv/app")))
