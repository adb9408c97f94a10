"""The pytest plugin (entry point ``pytest11``): test jobs the way the provider runs them.

- The ``scheduled_run`` fixture runs a declared job in a child process, with the
  ``SCHEDULED_*`` environment and a timeout, exactly as ``scheduled run`` would, and returns
  its outcome and captured output.
- ``pytest --scheduled`` adds one test per declared job: the declaration is valid and the
  entrypoint imports and is callable without arguments (in a child process).

The plugin is inactive until used: importing it costs nothing but this module; the
provider is imported by the fixture when a test asks for it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from scheduled_spec.models import Job, Project


@dataclass(frozen=True)
class JobResult:
    """How a run of a job ended: ``outcome`` is succeeded, failed, timed_out or abandoned."""

    job_id: str
    outcome: str
    error: str | None
    output: str
    duration: float
    environment: dict[str, str]

    @property
    def succeeded(self) -> bool:
        """True when the job returned normally."""
        return self.outcome == "succeeded"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scheduled", "scheduled jobs declared in pyproject.toml")
    group.addoption(
        "--scheduled", action="store_true",
        help="add one test per [tool.scheduled] job: valid, importable, callable",
    )  # fmt: skip
    group.addoption(
        "--scheduled-project", metavar="PATH", default=None,
        help="the pyproject.toml (or its directory) to read; default: the rootdir's",
    )  # fmt: skip
    group.addoption(
        "--scheduled-import-timeout", metavar="SECONDS", type=float, default=30.0,
        help="time allowed to import each entrypoint (default 30)",
    )  # fmt: skip


def _project_path(config: pytest.Config) -> Path:
    option = config.getoption("scheduled_project")
    path = Path(option) if option else config.rootpath
    return path / "pyproject.toml" if path.is_dir() else path


class ScheduledProject(pytest.File):
    """The pyproject.toml whose jobs become test items."""

    def collect(self) -> Iterator[pytest.Item]:
        from scheduled_spec.loader import validate  # noqa: PLC0415 - only with --scheduled

        report = validate(self.path, filename=str(self.path.name))
        yield DeclarationItem.from_parent(self, name="[tool.scheduled]", report=report)
        project = report.project
        if project is not None:
            for job in project.jobs:
                yield JobItem.from_parent(self, name=job.id, project=project, job=job)


class DeclarationItem(pytest.Item):
    """Passes when the declarations have no error (warnings are reported, not failed)."""

    def __init__(self, *, report: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report = report

    def runtest(self) -> None:
        if not self.report.valid:
            raise ScheduledCheckError(
                "\n".join(issue.describe(self.report.filename) for issue in self.report.issues)
            )

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, "scheduled: [tool.scheduled] is valid"


class JobItem(pytest.Item):
    """Passes when the job's entrypoint imports and is callable without arguments."""

    def __init__(self, *, project: Project, job: Job, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project, self.job = project, job

    def runtest(self) -> None:
        from scheduled_spec.importcheck import check_imports  # noqa: PLC0415

        timeout = self.config.getoption("scheduled_import_timeout")
        root = self.path.parent
        problems = check_imports([(self.job.id, str(self.job.entrypoint))], root, timeout=timeout)
        if problems:
            raise ScheduledCheckError("\n".join(f"{p.code} {p.message}" for p in problems))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scheduled job {self.job.id!r}: {self.job.entrypoint}"


class ScheduledCheckError(Exception):
    """A declaration or an entrypoint check failed; its message is the whole report."""


def _repr_failure(self: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    if isinstance(excinfo.value, ScheduledCheckError):
        return str(excinfo.value)
    return str(pytest.Item.repr_failure(self, excinfo))


DeclarationItem.repr_failure = _repr_failure  # type: ignore[method-assign,assignment]
JobItem.repr_failure = _repr_failure  # type: ignore[method-assign,assignment]


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not config.getoption("scheduled"):
        return
    path = _project_path(config)
    if not path.is_file():
        raise pytest.UsageError(f"--scheduled: no pyproject.toml at {path}")
    project = ScheduledProject.from_parent(session, path=path)
    items[:0] = list(project.collect())


RunJob = Callable[..., JobResult]


@pytest.fixture
def scheduled_run(pytestconfig: pytest.Config) -> RunJob:
    """Run a declared job as the provider does; return its `JobResult`.

    ``scheduled_run(job_id, project=None, *, timeout=None, period=None, attempt=1)``:
    `project` is a pyproject.toml or its directory (default: the rootdir's); `timeout`
    defaults to the job's `timeout` key, else its cadence period; `period` is the period key
    the job is told it runs for (default: the current one; for a job placed by an extension
    schedule, its next run's key).
    """

    def run(
        job_id: str,
        project: str | Path | None = None,
        *,
        timeout: float | None = None,
        period: str | None = None,
        attempt: int = 1,
    ) -> JobResult:
        from scheduled_spec.loader import load  # noqa: PLC0415 - imported when a test runs a job
        from scheduled_spec.provider.runner import ChildRunner, RunContext, RunSpec  # noqa: PLC0415
        from scheduled_spec.schedule import (  # noqa: PLC0415
            instant_key,
            next_run,
            period_of,
            placed_by_extension,
        )

        where = Path(project) if project is not None else pytestconfig.rootpath
        loaded = load(where)
        job = loaded.job(job_id)
        now = datetime.now(timezone.utc)
        if placed_by_extension(job):  # its next run: a cron or interval key is an instant
            upcoming = next_run(job, now)
            key, at = upcoming.period, upcoming.at
        else:
            current = period_of(job.every, now)
            key = current.key
            at = datetime.fromtimestamp(current.start.timestamp() + job.offset(), timezone.utc)
        context = RunContext(
            job_id=job.id,
            period=period or key,
            at=instant_key(at),
            attempt=attempt,
            run_id=uuid.uuid4().hex,
            fence=0,
        )
        spec = RunSpec(
            entrypoint=job.entrypoint,
            context=context,
            root=loaded.root,
            timeout=float(timeout if timeout is not None else job.timeout or job.every.seconds),
            kill_grace=5.0,
            started_at=time.time(),
        )
        finished = threading.Event()
        runner = ChildRunner()
        try:
            handle = runner.start(spec, finished.set)
            finished.wait()
            outcome = handle.poll()
            while outcome is None:  # `done` fires just before the outcome is published
                time.sleep(0.01)
                outcome = handle.poll()
        finally:
            runner.close()
        return JobResult(
            job_id=job.id,
            outcome=outcome.outcome.value,
            error=outcome.error,
            output=outcome.output,
            duration=outcome.duration,
            environment=context.env(),
        )

    return run
