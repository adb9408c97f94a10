"""Shared test helpers: run the real `scheduled` command as a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from hypothesis import settings

# Deadlines measure this shared, noisy machine more than the code: timings live in bench/.
settings.register_profile("default", deadline=None)
settings.load_profile("default")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
DEMO = ROOT / "examples" / "demo"

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def assert_valid_kubernetes(paths: Iterable[Path]) -> None:
    """The real `kubernetes-validate --strict` accepts every manifest in `paths`."""
    validated = subprocess.run(
        [
            str(Path(sys.executable).parent / "kubernetes-validate"),
            "--strict",
            "--quiet",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr


@pytest.fixture
def run_cli() -> RunCli:
    """Run ``python -m scheduled_spec ARGS`` in a child process; return its result.

    Keyword arguments: ``cwd`` (default: the repository root), ``env`` (added to the
    environment), ``timeout`` (seconds, default 60), ``input`` (text for stdin).
    """

    def run(
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scheduled_spec", *args],
            cwd=cwd or ROOT,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )

    return run


def write_project(directory: Path, body: str) -> Path:
    """Write `body` as directory/pyproject.toml and return the file's path."""
    path = directory / "pyproject.toml"
    path.write_text(body, encoding="utf-8")
    return path
