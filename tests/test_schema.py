"""The JSON Schema: generated from the models, committed, and in agreement with validate."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import tomli
from hypothesis import given
from hypothesis import strategies as st

from scheduled_spec import validate
from scheduled_spec.schema import packaged_schema, render, tool_schema, validate_pyproject_plugin
from tests.conftest import ROOT, RunCli, write_project

COMMITTED = ROOT / "schema" / "tool-scheduled.schema.json"
# Problems of structure, which a schema can express; the rest (warnings, encoding, syntax,
# imports, provider cadences) belong to `scheduled validate` alone.
STRUCTURAL = {
    "SCH003",
    "SCH010",
    "SCH011",
    "SCH012",
    "SCH013",
    "SCH016",
    "SCH017",
    "SCH101",
    "SCH103",
    "SCH201",
    "SCH202",
    "SCH203",
    "SCH204",
    "SCH205",
    "SCH206",
}
VALIDATOR = jsonschema.Draft202012Validator(tool_schema())


def test_committed_and_packaged_schemas_match_the_models() -> None:
    generated = render(tool_schema())
    assert COMMITTED.read_text(encoding="utf-8") == generated, (
        "run: scheduled schema -o schema/tool-scheduled.schema.json"
    )
    assert packaged_schema() == tool_schema()


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(tool_schema())
    for example in tool_schema()["examples"]:
        VALIDATOR.validate(example)


def test_plugin_schema_is_valid_draft_07() -> None:
    jsonschema.Draft7Validator.check_schema(validate_pyproject_plugin("scheduled"))


def test_cli_prints_and_writes_the_schema(run_cli: RunCli, tmp_path: Path) -> None:
    printed = run_cli("schema")
    assert printed.returncode == 0
    assert printed.stdout == render(tool_schema())
    target = tmp_path / "out.json"
    assert run_cli("schema", "-o", str(target)).returncode == 0
    assert json.loads(target.read_text(encoding="utf-8")) == tool_schema()


def agree(text: str) -> None:
    """validate() finds a structural error exactly when the schema rejects the table."""
    report = validate(text)
    codes = {issue.code for issue in report.issues}
    tool = tomli.loads(text).get("tool", {})
    # pyproject.toml's own schema (validate-pyproject) requires `tool` to be a table.
    rejected = not isinstance(tool, dict) or any(VALIDATOR.iter_errors(tool.get("scheduled", {})))
    assert bool(codes & STRUCTURAL) == rejected, (codes, text)


EVERY = st.sampled_from(
    ['"day"', '"week"', '"minute"', '"daily"', '"Day"', "86400", "true", '["day"]', '""']
)
ENTRYPOINT = st.sampled_from(
    [
        '"app.jobs:run"',
        '"app:Obj.method"',
        '"tâches:nettoyer"',
        '"_private._m:_f"',
        '"app.jobs.run"',
        '"a:b:c"',
        '":run"',
        '"app:"',
        '"app..x:y"',
        '"2app:run"',
        '"app:class"',
        '"app.True:x"',
        '"app: run"',
        '"app-x:run"',
        '"a:b."',
        "42",
        '"Trueish:x"',
    ]
)
JOB_ID = st.sampled_from(
    [
        "ok",
        '"Mixed_Case"',
        '""',
        '"tab\\there"',
        '"' + "x" * 128 + '"',
        '"' + "x" * 129 + '"',
        '"é"',
        '"line\\u2028sep"',
    ]
)
EXTRA = st.sampled_from(["", 'evry = "day"\n', 'id = "x"\n', "timeout = 3\n"])


@given(JOB_ID, EVERY, ENTRYPOINT, EXTRA)
def test_schema_and_validate_agree_on_structure(
    job_id: str, every: str, entrypoint: str, extra: str
) -> None:
    agree(f"[tool.scheduled.{job_id}]\nevery = {every}\nentrypoint = {entrypoint}\n{extra}")


@pytest.mark.parametrize(
    "text",
    [
        '[tool.scheduled.a]\nevery = "day"\n',
        '[tool.scheduled.a]\nentrypoint = "a:b"\n',
        "[tool]\nscheduled = 1\n",
        '[tool.scheduled]\na = "day"\n',
        "[tool.scheduled]\n",
    ],
)
def test_schema_and_validate_agree_on_shape(text: str) -> None:
    agree(text)


def fixture_cases() -> list[Path]:
    """Fixture projects that are TOML at all (the encoding and syntax cases are not)."""
    cases = []
    for path in sorted((ROOT / "fixtures").glob("*valid/*/pyproject.toml")):
        try:
            tomli.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, tomli.TOMLDecodeError):
            continue
        cases.append(path)
    return cases


@pytest.mark.parametrize("path", fixture_cases(), ids=lambda p: str(p.relative_to(ROOT)))
def test_schema_and_validate_agree_on_fixtures(path: Path) -> None:
    agree(path.read_text(encoding="utf-8"))


def run_validate_pyproject(path: Path) -> tuple[int, str]:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    tool = Path(sys.executable).parent / "validate-pyproject"
    result = subprocess.run([str(tool), str(path)], capture_output=True, text=True, check=False)
    return result.returncode, result.stdout + result.stderr


def test_real_validate_pyproject_uses_the_plugin(tmp_path: Path) -> None:
    project = '[project]\nname = "app"\nversion = "1"\n\n'
    good = write_project(
        tmp_path, project + '[tool.scheduled.a]\nevery = "day"\nentrypoint = "a:b"\n'
    )
    assert run_validate_pyproject(good) == (0, f"Valid file: {good}\n")
    write_project(tmp_path, project + '[tool.scheduled.a]\nevery = "daily"\nentrypoint = "a:b"\n')
    code, output = run_validate_pyproject(good)
    assert code == 1
    assert (
        "`tool.scheduled.a.every` must be one of ['minute', 'hour', 'day', 'week', 'month']"
        in output
    )
    write_project(tmp_path, project + '[tool.scheduled.a]\nevery = "day"\nentrypoint = "a.b"\n')
    code, output = run_validate_pyproject(good)
    assert code == 1
    assert "tool.scheduled.a.entrypoint" in output


def test_plugin_does_not_import_pydantic() -> None:
    """validate-pyproject loads the plugin on every run: it must stay cheap."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = (
        "import sys; from scheduled_spec.schema import validate_pyproject_plugin as p;"
        "p('scheduled'); print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves() -> None:
    import scheduled_spec  # noqa: PLC0415

    for name in scheduled_spec.__all__:
        assert getattr(scheduled_spec, name) is not None
    assert callable(scheduled_spec.load)
    assert set(scheduled_spec.__all__) <= set(dir(scheduled_spec))
