"""The JSON Schema: generated from the models, committed, and in agreement with validate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import tomli
from hypothesis import given
from hypothesis import strategies as st

from scheduled_spec import Issue, validate
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
    "SCH300",
    "SCH305",
}


def structural(issue: Issue) -> bool:
    """Whether a schema can see this problem (SPEC.md 7.5 lists the checks beyond one)."""
    if issue.code == "SCH304":
        # A number's minimum and a string's shape, yes; whole milliseconds, or the minimum
        # of a duration string ("50ms"), no.
        return not issue.message.startswith("expected whole") and not (
            issue.message.startswith("expected at least") and 'got "' in issue.message
        )
    if issue.code == "SCH306":
        # Choices, retries >= 0 and a number timeout > 0, yes; a zero duration string, no.
        return re.search(r'got "[0.]+(ms|s|m|h)"$', issue.message) is None
    return issue.code in STRUCTURAL


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
    found = [issue for issue in report.issues if structural(issue)]
    tool = tomli.loads(text).get("tool", {})
    # pyproject.toml's own schema (validate-pyproject) requires `tool` to be a table.
    rejected = not isinstance(tool, dict) or any(VALIDATOR.iter_errors(tool.get("scheduled", {})))
    assert bool(found) == rejected, ([i.code for i in report.issues], text)


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


# Extension keys, each absent or with a value; a job with several of at, cron and interval
# checks "not more than one" (SCH305). Not here: `retries = 3.0`, which JSON Schema counts as
# an integer and TOML as a float.
EXTENSION_LINES = st.tuples(
    st.sampled_from(["", 'at = "09:00"\n', 'at = "9:00"\n', "at = 900\n", 'at = "mon 09:00"\n']),
    st.sampled_from(
        ["", 'timezone = "Europe/Stockholm"\n', 'timezone = "Mars/Base"\n', "timezone = 1\n"]
    ),
    st.sampled_from(["", 'cron = "0 9 * * *"\n', 'cron = "0 25 * * *"\n', 'cron = "0 0 30 2 *"\n']),
    st.sampled_from(
        [
            "",
            "interval = 20\n",
            'interval = "1.5s"\n',
            "interval = 0.05\n",
            'interval = "50ms"\n',
            'interval = "20 sec"\n',
            "interval = 0.1234\n",
            "interval = true\n",
        ]
    ),
    st.sampled_from(["", "immediately = true\n", 'immediately = "yes"\n']),
    st.sampled_from(
        [
            "",
            "timeout = 30\n",
            'timeout = "10m"\n',
            "timeout = 0\n",
            'timeout = "0s"\n',
            'timeout = "soon"\n',
            "timeout = [1]\n",
        ]
    ),
    st.sampled_from(["", "retries = 0\n", "retries = -1\n", 'retries = "3"\n']),
    st.sampled_from(["", 'overlap = "skip"\n', 'overlap = "Skip"\n', "overlap = 1\n"]),
    st.sampled_from(["", 'catch-up = "all"\n', 'catch-up = "al"\n', 'catch_up = "all"\n']),
)


@given(EVERY, EXTENSION_LINES)
def test_schema_and_validate_agree_on_extension_keys(every: str, lines: tuple[str, ...]) -> None:
    agree(f'[tool.scheduled.job]\nevery = {every}\nentrypoint = "app:run"\n{"".join(lines)}')


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
