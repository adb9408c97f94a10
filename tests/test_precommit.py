"""The pre-commit hook, run by the real pre-commit against a temporary repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, write_project

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def try_repo(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    # try-repo takes this checkout (uncommitted changes included) as the hook repository.
    return subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(ROOT), "scheduled-validate", "--all-files"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "PRE_COMMIT_HOME": str(home), "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )


def test_hook_passes_good_and_fails_bad_declarations(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "service").mkdir(parents=True)
    git(repo, "init", "-q")
    write_project(repo, '[tool.scheduled.a]\nevery = "day"\nentrypoint = "app:a"\n')
    write_project(repo / "service", '[tool.scheduled.b]\nevery = "week"\nentrypoint = "svc:b"\n')
    (repo / "README.md").write_text("not a pyproject\n")
    git(repo, "add", ".")
    home = tmp_path / "pre-commit-home"

    passed = try_repo(repo, home)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "scheduled validate" in passed.stdout
    assert "Passed" in passed.stdout

    write_project(repo / "service", '[tool.scheduled.b]\nevery = "weekly"\nentrypoint = "svc:b"\n')
    git(repo, "add", ".")
    failed = try_repo(repo, home)
    assert failed.returncode == 1
    assert "Failed" in failed.stdout
    assert (
        "service/pyproject.toml:2:9: SCH103 tool.scheduled.b.every: expected one of"
        in failed.stdout
    )
    assert '(did you mean "week"?)' in failed.stdout
