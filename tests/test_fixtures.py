"""The conformance walker: every case in fixtures/ through the library and the real CLI.

fixtures/README.md describes the layout and the file formats. Each case directory is one
test, with its path as the test id; the CLI runs once per command per directory, and the
slot vectors go through the library, with a few CLI smoke checks.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import scheduled_spec
from scheduled_spec import Cadence, InvalidProject, Issue, Job, next_run, period_of, slot_offset
from scheduled_spec.codes import CODES
from scheduled_spec.slots import describe_slot
from scheduled_spec.triggers import describe_schedule
from tests.conftest import FIXTURES, ROOT, RunCli

UTC = timezone.utc
ISSUE_KEYS = ("code", "severity", "path", "line", "column")


def _cases(kind: str) -> list[Path]:
    return sorted(p.parent for p in (FIXTURES / kind).glob("*/expected.json"))


def _case_id(case: Path) -> str:
    return case.relative_to(ROOT).as_posix()


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


VALID = _cases("valid")
INVALID = _cases("invalid")
CADENCES = _cases("cadences")
IMPORTS = _cases("imports")
SLOTS: dict[str, Any] = _read_json(FIXTURES / "slots.json")

_INSTANT = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z")


def instant(text: str) -> datetime:
    """An RFC 3339 UTC instant as the fixtures write it (parsed here, not by the package)."""
    match = _INSTANT.fullmatch(text)
    assert match is not None, f"fixture instant {text!r} is not RFC 3339 UTC with Z"
    year, month, day, hour, minute, second = (int(f) for f in match.groups()[:6])
    micro = int((match[7] or "").ljust(6, "0"))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def rfc3339(t: datetime) -> str:
    """UTC with Z; a fraction is kept, so a run off the whole second cannot pass unnoticed."""
    assert t.utcoffset() is not None
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}".rstrip("0")
    return text + "Z"


def issue_rows(issues: Iterable[Issue]) -> list[dict[str, Any]]:
    return [
        {
            "code": i.code,
            "severity": i.severity.value,
            "path": i.path,
            "line": i.line,
            "column": i.column,
        }
        for i in issues
    ]


def cli_issue_rows(issues: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{key: issue[key] for key in ISSUE_KEYS} for issue in issues]


def has_errors(issues: Iterable[Mapping[str, Any]]) -> bool:
    return any(issue["severity"] == "error" for issue in issues)


def cli_json(result: Any) -> Any:
    """The JSON a CLI run printed, or a failure that shows what it printed instead."""
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"not JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")


def instant_text(t: datetime) -> str:
    """RFC 3339 UTC with Z, with milliseconds only off the whole second (SPEC.md 9.6.3)."""
    text = rfc3339(t.replace(microsecond=0))
    return text if not t.microsecond else f"{text[:-1]}.{t.microsecond // 1_000:03d}Z"


def extended_job_row(job: Job, now: datetime, salt: str) -> dict[str, Any]:
    """`job_row` for a job with extension keys: the added fields of SPEC.md 7.4."""
    runs, after = [], now
    for _ in range(3):
        run = next_run(job, after, salt=salt)
        assert run.at > after
        runs.append(run.at)
        after = run.at
    words = describe_schedule(job, salt)
    placed = job.at is not None or job.cron is not None or job.interval is not None
    row: dict[str, Any] = {
        "id": job.id,
        "every": str(job.every),
        "entrypoint": str(job.entrypoint),
        "offset_seconds": None if placed else slot_offset(job.id, job.every, salt=salt),
        "slot": words,
        "next_runs": [instant_text(t) for t in runs],
        "schedule": words,
        "extensions": list(job.extension_keys),
    }
    if job.timezone is not None:
        row["timezone"] = job.timezone
        row["next_runs_local"] = [t.astimezone(job.zone()).isoformat() for t in runs]
    return row


def job_row(job: Job, now: datetime, salt: str) -> dict[str, Any]:
    """What the library says about one job, in the shape of `show --format json`."""
    if job.extension_keys:
        return extended_job_row(job, now, salt)
    offset = slot_offset(job.id, job.every, salt=salt)
    assert job.offset(salt) == offset
    runs, after = [], now
    for _ in range(3):
        run = next_run(job, after, salt=salt)
        assert run.job_id == job.id
        runs.append(rfc3339(run.at))
        after = run.at
    return {
        "id": job.id,
        "every": str(job.every),
        "entrypoint": str(job.entrypoint),
        "offset_seconds": offset,
        "slot": describe_slot(job.every, offset),
        "next_runs": runs,
    }


# --- valid/ ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", VALID, ids=_case_id)
def test_valid_project(case: Path, run_cli: RunCli) -> None:
    expected = _read_json(case / "expected.json")
    assert not has_errors(expected["issues"]), "a valid case cannot expect an error"
    project_file = case / "pyproject.toml"

    now, salt = instant(expected["now"]), expected["salt"]
    report = scheduled_spec.validate(project_file, now=now)
    assert issue_rows(report.issues) == expected["issues"]
    assert report.valid
    project = scheduled_spec.load(project_file, now=now)
    assert issue_rows(project.issues) == expected["issues"]
    assert [job_row(job, now, salt) for job in project.jobs] == expected["jobs"]

    args = ("--now", expected["now"], "--count", "3", "--salt", salt, "--format", "json")
    shown = run_cli("show", str(case), *args)
    assert shown.returncode == 0, shown.stderr
    assert cli_json(shown)["jobs"] == expected["jobs"]

    validated = run_cli("validate", str(case), "--format", "json", "--now", expected["now"])
    assert validated.returncode == 0, validated.stdout + validated.stderr
    (file,) = cli_json(validated)["files"]
    assert cli_issue_rows(file["issues"]) == expected["issues"]
    assert file["valid"] is True
    assert file["jobs"] == len(expected["jobs"])


# --- invalid/, cadences/, imports/ -------------------------------------------------------


@pytest.mark.parametrize("case", INVALID + CADENCES + IMPORTS, ids=_case_id)
def test_issues_of_project(case: Path, run_cli: RunCli) -> None:
    expected = _read_json(case / "expected.json")
    cadences: str | None = expected.get("cadences")
    check_imports: bool = expected.get("check_imports", False)
    errors = has_errors(expected["issues"])
    if case.parent.name == "invalid":
        assert errors, "an invalid case must expect at least one error"
    project_file = case / "pyproject.toml"
    supported = cadences.split(",") if cadences is not None else None
    now = instant(expected["now"]) if "now" in expected else None

    report = scheduled_spec.validate(
        project_file, cadences=supported, check_imports=check_imports, now=now
    )
    assert issue_rows(report.issues) == expected["issues"]
    assert report.valid is not errors
    if errors and not check_imports:
        with pytest.raises(InvalidProject) as caught:
            scheduled_spec.load(project_file, cadences=supported, now=now)
        assert issue_rows(caught.value.issues) == expected["issues"]

    options = ["--cadences", cadences] if cadences is not None else []
    if "now" in expected:
        options += ["--now", expected["now"]]
    if check_imports:
        options.append("--check-imports")
    result = run_cli("validate", str(case), "--format", "json", *options)
    assert result.returncode == (1 if errors else 0), result.stdout + result.stderr
    (file,) = cli_json(result)["files"]
    assert cli_issue_rows(file["issues"]) == expected["issues"]
    assert file["valid"] is not errors


def test_fixtures_cover_every_issue_code() -> None:
    """Every code has a case; SCH213 (an import that hangs) is left to tests/test_cli.py."""
    seen: dict[str, set[str]] = {}
    for case in VALID + INVALID + CADENCES + IMPORTS:
        for issue in _read_json(case / "expected.json")["issues"]:
            seen.setdefault(case.parent.name, set()).add(issue["code"])
    assert set(CODES) - {"SCH213"} == set().union(*seen.values())
    assert seen["cadences"] - {"SCH103"} == {"SCH104"}
    assert seen["imports"] == {"SCH210", "SCH211", "SCH212"}
    assert not seen["invalid"] & {"SCH104", "SCH210", "SCH211", "SCH212", "SCH213"}
    assert len(VALID) >= 8


# --- slots.json --------------------------------------------------------------------------


def _short(text: str, limit: int = 24) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _offset_id(index: int) -> str:
    v = SLOTS["offsets"][index]
    salt = f" salt={_short(v['salt'])}" if v["salt"] else ""
    return f"fixtures/slots.json:offsets[{index}] {v['every']} {_short(v['job_id'])}{salt}"


def _next_run_id(index: int) -> str:
    v = SLOTS["next_runs"][index]
    return f"fixtures/slots.json:next_runs[{index}] {v['every']} {_short(v['job_id'])} {v['note']}"


def _job(vector: Mapping[str, Any]) -> Job:
    return Job(id=vector["job_id"], every=vector["every"], entrypoint="x:y")


@pytest.mark.parametrize("index", range(len(SLOTS["offsets"])), ids=_offset_id)
def test_slot_offset_vector(index: int) -> None:
    v = SLOTS["offsets"][index]
    assert slot_offset(v["job_id"], v["every"], salt=v["salt"]) == v["offset_seconds"]
    assert _job(v).offset(v["salt"]) == v["offset_seconds"]


@pytest.mark.parametrize("index", range(len(SLOTS["next_runs"])), ids=_next_run_id)
def test_next_run_vector(index: int) -> None:
    v = SLOTS["next_runs"][index]
    run = next_run(_job(v), instant(v["after"]), salt=v["salt"])
    assert (run.job_id, rfc3339(run.at), run.period) == (
        v["job_id"],
        v["expected_at"],
        v["expected_period"],
    )
    assert period_of(v["every"], run.at).key == v["expected_period"]


def test_slot_vectors_cover_what_the_readme_promises() -> None:
    offsets, runs = SLOTS["offsets"], SLOTS["next_runs"]
    assert len(offsets) >= 300
    assert len(runs) >= 150
    for vectors in (offsets, runs):
        assert {v["every"] for v in vectors} == {c.value for c in Cadence}
        assert any(v["salt"] for v in vectors)
        assert any(not v["salt"] for v in vectors)
        assert any(not v["job_id"].isascii() for v in vectors)
    assert max(len(v["job_id"]) for v in offsets) == 128
    assert any(not v["salt"].isascii() for v in offsets)
    assert any(instant(v["after"]).microsecond for v in runs)
    # `after` exactly at a run: the answer is the next period's run, one period later.
    assert {
        v["every"]
        for v in runs
        if instant(v["expected_at"]) - instant(v["after"])
        == timedelta(seconds=scheduled_spec.PERIOD_SECONDS[Cadence(v["every"])])
    } >= {"minute", "hour", "day", "week"}
    assert {"2026-W53", "2020-W53", "2025-W01"} <= {v["expected_period"] for v in runs}
    at = {v["expected_at"][:10] for v in runs}
    assert {"2024-02-29", "2028-02-29", "2026-03-01", "2027-01-01"} <= at


def _toml_key(text: str) -> str:
    assert not re.search("[\x00-\x1f\x7f]", text), "TOML would need an escape"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _project(jobs: Iterable[tuple[str, str]]) -> str:
    return "".join(
        f'[tool.scheduled.{_toml_key(job_id)}]\nevery = "{every}"\nentrypoint = "app:run"\n\n'
        for job_id, every in jobs
    )


def _show(run_cli: RunCli, directory: Path, now: str, salt: str) -> list[dict[str, Any]]:
    args = ("--now", now, "--count", "1", "--salt", salt, "--format", "json")
    result = run_cli("show", str(directory), *args)
    assert result.returncode == 0, result.stderr
    jobs: list[dict[str, Any]] = cli_json(result)["jobs"]
    return jobs


@pytest.mark.parametrize("salt", ["", "ténant-ü", "租户"])
def test_cli_show_agrees_with_offset_vectors(salt: str, run_cli: RunCli, tmp_path: Path) -> None:
    chosen: dict[str, dict[str, Any]] = {}
    for v in SLOTS["offsets"]:
        if v["salt"] == salt and (salt or v["every"] == "week"):
            chosen.setdefault(v["job_id"], v)
    assert len(chosen) >= 8
    (tmp_path / "pyproject.toml").write_text(
        _project((v["job_id"], v["every"]) for v in chosen.values()), encoding="utf-8"
    )
    shown = _show(run_cli, tmp_path, "2026-11-24T00:00:00Z", salt)
    assert {job["id"]: job["offset_seconds"] for job in shown} == {
        job_id: v["offset_seconds"] for job_id, v in chosen.items()
    }


def _smoke_vectors() -> list[int]:
    """A few next-run vectors: a fractional `after`, an ISO week-year edge, a salted one."""
    runs = SLOTS["next_runs"]
    return [
        next(i for i, v in enumerate(runs) if "." in v["after"]),
        next(i for i, v in enumerate(runs) if v["expected_period"] == "2026-W53"),
        next(i for i, v in enumerate(runs) if v["salt"] and not v["salt"].isascii()),
    ]


@pytest.mark.parametrize("index", _smoke_vectors(), ids=_next_run_id)
def test_cli_show_agrees_with_next_run_vectors(index: int, run_cli: RunCli, tmp_path: Path) -> None:
    v = SLOTS["next_runs"][index]
    (tmp_path / "pyproject.toml").write_text(_project([(v["job_id"], v["every"])]), "utf-8")
    (job,) = _show(run_cli, tmp_path, v["after"], v["salt"])
    assert job["next_runs"] == [v["expected_at"]]


# --- the generator -----------------------------------------------------------------------

GENERATOR = FIXTURES / "make_slots.py"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """fixtures/make_slots.py, imported by path (it is not part of any package)."""
    spec = importlib.util.spec_from_file_location("make_slots", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_slots_json_is_what_the_generator_writes(generator: ModuleType) -> None:
    committed = (FIXTURES / "slots.json").read_text(encoding="utf-8")
    regenerated: str = generator.render(generator.build_slots())
    assert regenerated == committed, "run: python fixtures/make_slots.py"


@pytest.mark.parametrize("case", VALID, ids=_case_id)
def test_valid_expectations_are_what_the_generator_derives(
    case: Path, generator: ModuleType
) -> None:
    expected = _read_json(case / "expected.json")
    assert generator.complete_case(expected) == expected, "run: python fixtures/make_slots.py"


def test_generator_does_not_use_the_package() -> None:
    tree = ast.parse(GENERATOR.read_text(encoding="utf-8"))
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    }
    standard = {"__future__", "argparse", "collections", "datetime", "hashlib", "json"}
    assert imported <= standard | {"pathlib", "re", "sys", "typing"}
