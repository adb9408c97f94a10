"""The README's 30-second example prints what the README says it prints."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT, RunCli, write_project

README = (ROOT / "README.md").read_text(encoding="utf-8")


def console_transcript() -> dict[str, str]:
    """The first console block, as {command: expected output}."""
    block = re.search(r"```console\n(.*?)```", README, re.DOTALL)
    assert block is not None
    transcript: dict[str, str] = {}
    command = None
    for line in block.group(1).splitlines():
        if line.startswith("$ "):
            command = line[2:]
            transcript[command] = ""
        elif command is not None:
            transcript[command] += line + "\n"
    return {command: output.rstrip("\n") + "\n" for command, output in transcript.items()}


def test_thirty_second_example(run_cli: RunCli, tmp_path: Path) -> None:
    transcript = console_transcript()
    broken = transcript["cat pyproject.toml"]
    write_project(tmp_path, broken)
    result = run_cli("validate", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == transcript["scheduled validate"]

    write_project(
        tmp_path,
        broken.replace('"daily"', '"day"').replace("app.jobs.clean_files", "app.jobs:clean_files"),
    )
    show = "scheduled show --now 2026-11-24T00:00:00Z --count 2"
    result = run_cli(*show.split()[1:], cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == transcript[show]


def test_setup_commands_are_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    setup = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert setup is not None
    commands = setup.group(1).strip().splitlines()
    assert len(commands) == 2
    for command in commands:
        assert f"\n{command}\n" in ci
