"""The pytest plugin, run by the real pytest in a child process (pytester)."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

JOBS = """\
import asyncio, os, sys

def ok():
    print("ran", os.environ["SCHEDULED_JOB_ID"], os.environ["SCHEDULED_PERIOD"])

async def later():
    await asyncio.sleep(0)
    print("awaited", os.environ["SCHEDULED_ATTEMPT"])

def boom():
    raise RuntimeError("no database")

def hang():
    import time
    time.sleep(60)

def crash():
    os._exit(3)

def needs(arg):
    pass
"""

PROJECT = """\
[tool.scheduled.ok]
every = "day"
entrypoint = "jobs:ok"

[tool.scheduled.later]
every = "hour"
entrypoint = "jobs:later"

[tool.scheduled.boom]
every = "day"
entrypoint = "jobs:boom"

[tool.scheduled.hang]
every = "minute"
entrypoint = "jobs:hang"

[tool.scheduled.crash]
every = "week"
entrypoint = "jobs:crash"

[tool.scheduled.report]
every = "day"
entrypoint = "jobs:ok"
cron = "0 9 * * *"

[tool.scheduled.stuck]
every = "minute"
entrypoint = "jobs:hang"
timeout = "500ms"
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(jobs=JOBS)
    pytester.makefile(".toml", pyproject=PROJECT)
    return pytester


def test_fixture_runs_jobs_as_the_provider_does(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_jobs=textwrap.dedent("""
        def test_ok(scheduled_run):
            result = scheduled_run("ok")
            assert result.succeeded
            assert result.output.startswith("ran ok ")
            assert result.environment["SCHEDULED_JOB_ID"] == "ok"
            assert result.environment["SCHEDULED_RUN_ID"]

        def test_async_is_awaited(scheduled_run):
            result = scheduled_run("later", attempt=2)
            assert result.succeeded
            assert "awaited 2" in result.output

        def test_exception_is_a_failure(scheduled_run):
            result = scheduled_run("boom")
            assert result.outcome == "failed"
            assert "RuntimeError: no database" in result.error

        def test_timeout(scheduled_run):
            result = scheduled_run("hang", timeout=0.5)
            assert result.outcome == "timed_out"

        def test_os_exit(scheduled_run):
            result = scheduled_run("crash", period="2026-W48")
            assert result.outcome == "failed"
            assert result.error == "exit code 3"
            assert result.environment["SCHEDULED_PERIOD"] == "2026-W48"

        def test_cron_job_is_told_its_next_run(scheduled_run):
            import re
            env = scheduled_run("report").environment
            assert re.fullmatch(r"\\d{4}-\\d\\d-\\d\\dT09:00:00Z", env["SCHEDULED_PERIOD"])
            assert env["SCHEDULED_AT"] == env["SCHEDULED_PERIOD"]

        def test_timeout_key(scheduled_run):
            assert scheduled_run("stuck").outcome == "timed_out"

        def test_unknown_job(scheduled_run):
            import pytest
            with pytest.raises(KeyError, match="did you mean"):
                scheduled_run("okk")
    """)
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)


def test_scheduled_option_adds_an_item_per_job(project: pytest.Pytester) -> None:
    project.makepyfile(jobs=JOBS.replace("def hang():", "def hang_():") + "\nbad = 3\n")
    project.makefile(
        ".toml",
        pyproject=PROJECT + '[tool.scheduled.bad]\nevery = "day"\nentrypoint = "jobs:bad"\n',
    )
    result = project.runpytest_subprocess("--scheduled", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*pyproject.toml::[[]tool.scheduled[]] PASSED*",
            "*pyproject.toml::ok PASSED*",
            "*pyproject.toml::hang FAILED*",
            "*pyproject.toml::bad FAILED*",
            '*SCH211*"jobs" has no attribute "hang"*',
            '*SCH212*"bad" is not callable: it is of type int*',
        ]
    )


def test_scheduled_option_reports_invalid_declarations(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".toml", pyproject='[tool.scheduled.a]\nevery = "daily"\nentrypoint = "x:y"\n'
    )
    result = pytester.runpytest_subprocess("--scheduled", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['*SCH103 tool.scheduled.a.every*(did you mean "day"?)*'])


def test_plugin_is_inactive_until_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="def test_nothing():\n    import sys\n    "
        "assert 'scheduled_spec.provider' not in sys.modules\n"
        "    assert 'pydantic' not in sys.modules\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
