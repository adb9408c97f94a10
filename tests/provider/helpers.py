"""Helpers for provider tests: projects whose jobs leave traces, real provider processes.

Every job in these projects appends one line per start to ``<side dir>/<job>.log``
(``start <period> <attempt> <pid>``) and one per clean end (``end <period> <attempt>``),
so tests count what the jobs actually did, not what the ledger believes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

# Bodies of job functions; each runs after the "start" line is written.
BODIES = {
    "ok": "pass",
    "raise": "raise ValueError('boom')",
    "exit3": "os._exit(3)",
    "segfault": "import ctypes; ctypes.string_at(0)",
    "hang": "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)",
    "sleep3": "time.sleep(3)",
    "first-hangs": "time.sleep(600) if _starts() == 1 else None",
    "exclusive": "_exclusive(3.0)",
    "async": "await asyncio.sleep(0.01)",
    "prints": "print('to stdout', period); print('to stderr', file=sys.stderr)",
    "floods": "sys.stdout.write('x' * 200_000 + 'THE END')",
    "exits0": "sys.exit(0)",
    "gated": "GATE.wait(30)",
}

_MODULE = """
import asyncio, fcntl, os, signal, sys, time
from pathlib import Path
from typing import Any

SIDE = Path({side!r})
GATE = __import__("threading").Event()  # inline tests open it to let "gated" jobs end


def _note(job, text):
    with open(SIDE / f"{{job}}.log", "a") as f:
        f.write(text + "\\n")


def _env():
    if os.environ.get("SCHEDULED_JOB_ID"):
        e = os.environ
        return e["SCHEDULED_JOB_ID"], e["SCHEDULED_PERIOD"], e["SCHEDULED_ATTEMPT"]
    from scheduled_spec.provider.runner import current_run
    run = current_run()
    return run.job_id, run.period, str(run.attempt)


def _starts():
    job = _env()[0]
    return sum(1 for line in open(SIDE / f"{{job}}.log") if line.startswith("start"))


def _exclusive(seconds):
    job = _env()[0]
    with open(SIDE / f"{{job}}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            _note(job, "OVERLAP")
            return
        time.sleep(seconds)
"""

_FUNCTION = """

{prefix}def {name}():
    job, period, attempt = _env()
    _note(job, f"start {{period}} {{attempt}} {{os.getpid()}}")
    {body}
    _note(job, f"end {{period}} {{attempt}}")
"""


@dataclass
class Project:
    """A project on disk: its directory, side-file directory and ledger path."""

    root: Path
    side: Path
    ledger: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.ledger}"

    def lines(self, job: str) -> list[str]:
        path = self.side / f"{job}.log"
        return path.read_text().splitlines() if path.exists() else []

    def starts(self, job: str) -> list[str]:
        """Periods of each start, in order (one entry per attempt)."""
        return [line.split()[1] for line in self.lines(job) if line.startswith("start")]

    def ends(self, job: str) -> list[str]:
        return [line.split()[1] for line in self.lines(job) if line.startswith("end")]

    def duplicates(self, job: str) -> int:
        """Periods that ended cleanly more than once."""
        return sum(n - 1 for n in Counter(self.ends(job)).values() if n > 1)

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """Rows of any query on the ledger, read with a separate connection."""
        db = sqlite3.connect(f"file:{self.ledger}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def rows(self, where: str = "1", *args: object) -> list[sqlite3.Row]:
        """Ledger rows, read with a separate connection."""
        if not self.ledger.exists():
            return []
        db = sqlite3.connect(f"file:{self.ledger}?mode=ro", uri=True, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            return db.execute(f"SELECT * FROM runs WHERE {where}", args).fetchall()  # noqa: S608
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # a provider is creating the ledger right now
                return []
            raise
        finally:
            db.close()


def make_project(
    directory: Path, jobs: dict[str, tuple[str, str]], package: str = "app"
) -> Project:
    """Write a project with `jobs` (ID -> (cadence, kind of BODIES)) and its job module.

    In-process (inline) tests need a `package` name of their own: modules are cached.
    """
    side = directory / "side"
    side.mkdir(parents=True, exist_ok=True)
    folder = directory / package
    folder.mkdir(exist_ok=True)
    (folder / "__init__.py").write_text("")
    source = _MODULE.format(side=str(side))
    toml = []
    for job_id, (every, kind) in jobs.items():
        name = job_id.replace("-", "_")
        prefix = "async " if kind == "async" else ""
        body = BODIES[kind]
        source += _FUNCTION.format(prefix=prefix, name=name, body=body)
        toml.append(
            f'[tool.scheduled.{job_id}]\nevery = "{every}"\nentrypoint = "{package}.jobs:{name}"\n'
        )
    (folder / "jobs.py").write_text(source)
    (directory / "pyproject.toml").write_text("\n".join(toml))
    return Project(directory, side, directory / ".scheduled" / "ledger.sqlite3")


def rfc3339(t: datetime | int) -> str:
    if isinstance(t, int):
        t = datetime.fromtimestamp(t, timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_clock(path: Path, t: datetime | int) -> None:
    """Move a file clock: write the instant to a temporary file and rename it over."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(rfc3339(t))
    tmp.replace(path)


def scheduled(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real ``scheduled`` command to completion."""
    return subprocess.run(
        [sys.executable, "-m", "scheduled_spec", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def provider_process(
    *args: str, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A background ``scheduled run`` process; SIGKILLed at exit if still running."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "scheduled_spec", "run", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "") -> None:
    """Poll `condition` until it is true; fail after `timeout` real seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)
