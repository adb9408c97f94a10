"""The README's "Running several replicas" example works as written, on the real server.

The console block's commands run in order with the test server's URL (a fresh schema) in
place of the README's; their output must be the README's, with the URL replaced. The
last command, `scheduled run`, runs on two replicas at once (a file clock at the job's
slot): the README's job runs once.
"""

from __future__ import annotations

import re
import shlex
import time
from datetime import datetime
from pathlib import Path

from scheduled_spec.provider.postgres_db import parse_url
from tests.conftest import ROOT
from tests.provider.helpers import provider_process, scheduled, set_clock, wait_for
from tests.provider.postgres import rows

README = (ROOT / "README.md").read_text(encoding="utf-8")
SLOT = "2026-11-24T08:15:12Z"  # clean-files, every day (README: "every day at 08:15:12 UTC")


def replicas_block() -> list[tuple[str, str]]:
    """(command, expected output) of the section's console block, in order."""
    section = README.split("## Running several replicas", 1)[1]
    block = re.search(r"```console\n(.*?)```", section, re.DOTALL)
    assert block is not None
    steps: list[tuple[str, str]] = []
    for line in block.group(1).splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], ""))
        else:
            command, output = steps[-1]
            steps[-1] = (command, output + line + "\n")
    return steps


def test_the_replicas_example_works_as_written(tmp_path: Path, postgres_url: str) -> None:
    steps = replicas_block()
    assert steps[0][0] == "pip install 'scheduled-spec[postgres]'"  # installed here already
    export = shlex.split(steps[1][0])
    assert export[0] == "export"
    name, _, readme_url = export[1].partition("=")
    assert name == "SCHEDULED_LEDGER"
    ours = parse_url(postgres_url)[2]
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "jobs.py").write_text(
        "import os\n\n\ndef clean_files():\n"
        '    print("cleaning for", os.environ["SCHEDULED_PERIOD"])\n'
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.scheduled.clean-files]\nevery = "day"\nentrypoint = "app.jobs:clean_files"\n'
    )
    env = {name: postgres_url}
    *commands, (run, _) = steps[2:]
    for command, expected in commands:
        args = shlex.split(command)
        assert args[0] == "scheduled"
        result = scheduled(*args[1:], str(tmp_path), env=env)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout == expected.replace(readme_url, ours), command
    args = shlex.split(run.split("#")[0])
    assert args[:2] == ["scheduled", "run"]
    clock = tmp_path / "clock"
    set_clock(clock, datetime.fromisoformat(SLOT.replace("Z", "+00:00")))
    env["SCHEDULED_CLOCK_FILE"] = str(clock)
    with (
        provider_process(*args[2:], str(tmp_path), env=env, log=tmp_path / "a.log") as a,
        provider_process(*args[2:], str(tmp_path), env=env, log=tmp_path / "b.log") as b,
    ):
        wait_for(lambda: rows(postgres_url, "state = 'succeeded'"), what="the run")
        time.sleep(1)  # the other replica had its chance to run it again
        for replica in (a, b):
            replica.terminate()
            assert replica.wait(30) == 0
    (row,) = rows(postgres_url)
    assert (row["job_id"], row["period_key"], row["fence"]) == ("clean-files", "2026-11-24", 1)
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert logs.count("start clean-files period 2026-11-24 attempt 1") == 1
