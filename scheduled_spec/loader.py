"""TOML text or file -> `Project`, with every problem collected at once (SPEC.md section 3).

`validate()` returns a `Report` (issues and, when there is no error, the project);
`load()` returns the project or raises `InvalidProject`.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import tomli
from pydantic import ValidationError

from scheduled_spec.cadence import Cadence
from scheduled_spec.codes import severity_of
from scheduled_spec.errors import (
    InvalidProject,
    Issue,
    NaiveDatetimeError,
    ProjectFileError,
    Severity,
)
from scheduled_spec.job_ids import id_problem
from scheduled_spec.models import (
    CADENCE_NAMES,
    EXTENSION_KEYS,
    JOB_KEYS,
    Job,
    Project,
    got,
    plain_job,
    toml_repr,
)
from scheduled_spec.positions import Path as KeyPath
from scheduled_spec.positions import Positions

_PORTABLE_IDS = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,50}[a-z0-9])?\n)*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
#: Where promise proofs start when no `now` is given: a fixed instant, so that `validate()`
#: says the same thing on every day it runs (SPEC.md 9.8.2). The CLI passes the current time.
PROOF_START = datetime(2000, 1, 1, tzinfo=timezone.utc)
_KEY_HINTS = {
    "every": 'add every = "day"; the cadences are ' + ", ".join(f'"{c}"' for c in CADENCE_NAMES),
    "entrypoint": 'add entrypoint = "module:function", for example "app.jobs:clean_files"',
}


@dataclass(frozen=True)
class Report:
    """What validation found in one file: all issues, and the project when it has no error."""

    filename: str
    issues: tuple[Issue, ...]
    project: Project | None
    jobs: int = 0
    path: Path | None = field(default=None)

    @property
    def valid(self) -> bool:
        """True when no issue is an error (warnings allowed)."""
        return not any(i.severity is Severity.ERROR for i in self.issues)


def toml_path(parts: KeyPath) -> str:
    """``tool.scheduled.nightly.every``, with parts that are not bare keys quoted as in TOML."""
    return ".".join(
        str(p) if isinstance(p, int) or _BARE_KEY.fullmatch(p) else toml_repr(p) for p in parts
    )


def resolve_path(source: str | os.PathLike[str]) -> Path:
    """A pyproject.toml path from a file or a directory holding one. Raises ProjectFileError."""
    path = Path(source)
    if path.is_dir():
        path = path / "pyproject.toml"
        if not path.is_file():
            raise ProjectFileError(f"{path.parent}: no pyproject.toml in this directory")
    elif not path.exists():
        raise ProjectFileError(f"{path}: no such file")
    return path


def validate(
    source: str | os.PathLike[str],
    *,
    cadences: Iterable[Cadence | str] | None = None,
    filename: str | None = None,
    check_imports: bool = False,
    import_timeout: float = 10.0,
    now: datetime | None = None,
    portable: bool = False,
) -> Report:
    """Validate a project without raising for its problems.

    `source` is TOML text (a ``str``) or a path (``os.PathLike``) to a pyproject.toml or a
    directory holding one. `cadences`, when given, lists the cadences the caller supports;
    jobs with others are errors (SCH104). With `check_imports`, a valid project's entrypoints
    are imported in a child interpreter (project root first on sys.path) and each that fails
    to import, exist or be callable without arguments is an error (SCH210-SCH213).

    `now` is where the promise proofs of extension schedules start (SPEC.md 9.8): their
    counterexamples are the first periods at or after it; None means `PROOF_START`
    (2000-01-01T00:00:00Z), never the clock. With `portable`, a job that uses extensions
    (SCH320) is an error instead of a note.

    Raises ProjectFileError when the file is missing or unreadable, ValueError for an unknown
    cadence in `cadences`.
    """
    supported = None if cadences is None else frozenset(Cadence(c) for c in cadences)
    imports = import_timeout if check_imports else None
    if now is not None and (now.tzinfo is None or now.utcoffset() is None):
        raise NaiveDatetimeError(f"now must be timezone-aware, got naive {now.isoformat()}")
    options = _Options(supported, imports, PROOF_START if now is None else now, portable)
    if isinstance(source, str):
        return _validate_text(source, filename or "<text>", None, options)
    path = resolve_path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProjectFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    name = filename or str(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        # Columns count characters, as everywhere else; the line up to the bad byte decodes.
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8")) + 1
        issue = Issue(
            "SCH002",
            Severity.ERROR,
            "",
            f"expected UTF-8 text, got byte 0x{data[exc.start]:02x}",
            "TOML files are UTF-8: re-save the file with that encoding",
            line,
            column,
        )
        return Report(name, (issue,), None, path=path)
    del data  # a large file's bytes need not outlive their decoding
    return _validate_text(text.removeprefix("\ufeff"), name, path, options)


def load(
    source: str | os.PathLike[str],
    *,
    cadences: Iterable[Cadence | str] | None = None,
    now: datetime | None = None,
) -> Project:
    """Load and validate a project; return it with its warnings in ``Project.issues``.

    `source` is TOML text (``str``) or a path (``pathlib.Path``) to a pyproject.toml or a
    directory holding one. `now` starts the promise proofs, as in `validate`. Raises
    InvalidProject with every issue when there is any error, ProjectFileError when the file
    is missing or unreadable.
    """
    report = validate(source, cadences=cadences, now=now)
    if report.project is None:
        raise InvalidProject(report.issues, report.filename)
    return report.project


class _Options(NamedTuple):
    cadences: frozenset[Cadence] | None
    import_timeout: float | None
    start: datetime
    portable: bool


class _Collector:
    def __init__(self, text: str) -> None:
        self.issues: list[Issue] = []
        self.positions = Positions(text)
        self.jobs_declared = 0

    def has_errors(self) -> bool:
        return any(i.severity is Severity.ERROR for i in self.issues)

    def add(
        self,
        code: str,
        parts: KeyPath,
        message: str,
        hint: str | None = None,
        *,
        at: str = "value",
        severity: Severity | None = None,
    ) -> None:
        line, column = (
            self.positions.of_key(parts) if at == "key" else self.positions.of_value(parts)
        )
        level = severity_of(code) if severity is None else severity
        self.issues.append(Issue(code, level, toml_path(parts), message, hint, line, column))


def _validate_text(text: str, filename: str, path: Path | None, options: _Options) -> Report:
    try:
        document = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        hint = None
        if path is None and "\n" not in text and text.strip().endswith(".toml"):
            hint = "to load a file, pass a pathlib.Path, not a str"
        issue = Issue(
            "SCH001", Severity.ERROR, "", f"invalid TOML: {exc.msg}", hint, exc.lineno, exc.colno
        )
        return Report(filename, (issue,), None, path=path)
    except RecursionError:
        # tomli refuses arrays and inline tables nested past its limit this way.
        issue = Issue(
            "SCH001", Severity.ERROR, "",
            "invalid TOML: arrays or inline tables are nested too deeply to read",
            "no pyproject.toml needs hundreds of levels of nesting",
        )  # fmt: skip
        return Report(filename, (issue,), None, path=path)

    found = _Collector(text)
    jobs = _collect_jobs(document, found, options)
    import_timeout = options.import_timeout
    if jobs and import_timeout is not None and not found.has_errors():
        # Imported here: only --check-imports needs subprocess and json.
        from scheduled_spec.importcheck import check_imports as check_entrypoint_imports  # noqa: PLC0415

        root = path.parent if path is not None else Path.cwd()
        pairs = [(job.id, str(job.entrypoint)) for job in jobs]
        for problem in check_entrypoint_imports(pairs, root, timeout=import_timeout):
            found.add(
                problem.code, ("tool", "scheduled", problem.job_id, "entrypoint"), problem.message
            )
    issues = tuple(sorted(found.issues, key=_document_order))
    if jobs is None or found.has_errors():
        return Report(filename, issues, None, found.jobs_declared, path)
    project = Project.model_construct(jobs=tuple(jobs), path=path, issues=issues)
    return Report(filename, issues, project, len(jobs), path)


def _document_order(issue: Issue) -> tuple[int, int]:
    return (issue.line or 0, issue.column or 0)


def _collect_jobs(
    document: dict[str, Any], found: _Collector, options: _Options
) -> list[Job] | None:
    cadences = options.cadences
    tool = document.get("tool")
    if tool is None or (isinstance(tool, dict) and "scheduled" not in tool):
        found.add("SCH004", ("tool", "scheduled"), "no [tool.scheduled] table: no jobs declared")
        return []
    if not isinstance(tool, dict):
        found.add("SCH003", ("tool",), f"expected a table, {got(tool)}")
        return None
    table = tool["scheduled"]
    if not isinstance(table, dict):
        found.add(
            "SCH003",
            ("tool", "scheduled"),
            f"expected a table of jobs, {got(table)}",
            "declare each job as [tool.scheduled.<job-id>] with every and entrypoint",
        )
        return None
    if not table:
        found.add(
            "SCH005",
            ("tool", "scheduled"),
            "the table is empty: no jobs declared",
            'add [tool.scheduled.<job-id>] with every = "day" and entrypoint = "module:function"',
        )
        return []
    found.jobs_declared = len(table)
    candidates: list[tuple[KeyPath, dict[str, Any]]]
    if cadences is None and _plain_tables(table):
        # The common case: portable IDs (so no two can be confused) and table bodies.
        candidates = [(("tool", "scheduled", job_id), body) for job_id, body in table.items()]
    else:
        candidates = _check_tables(table, found, cadences)
    jobs: list[Job] = []
    for parts, body in candidates:
        job_id = str(parts[-1])
        job = plain_job(job_id, body)
        if job is None:
            # Anything but the plain shape goes through the pydantic model, which also
            # words exactly what is wrong.
            try:
                job = Job.model_validate({**body, "id": job_id})
            except ValidationError as exc:
                for error in exc.errors(include_url=False):
                    key = str(error["loc"][0]) if error["loc"] else ""
                    _translate(error, key, body, parts, found)
                continue
            if job.extension_keys:
                _check_extensions(job, parts, found, options)
        jobs.append(job)
    return jobs


def _check_extensions(job: Job, parts: KeyPath, found: _Collector, options: _Options) -> None:
    """SCH320 (not portable; an error under `portable`) and the promise (SCH310, SCH311)."""
    from scheduled_spec.extensions import extension_issues  # noqa: PLC0415 - extension jobs only

    for code, key, message, hint in extension_issues(job, options.start):
        if key is None:
            level = Severity.ERROR if options.portable else None
            found.add(code, parts, message, hint, at="key", severity=level)
        else:
            found.add(code, (*parts, key), message, hint)


def _plain_tables(table: dict[str, Any]) -> bool:
    """True when every job ID is portable and every job is a table without an "id" key."""
    joined = "\n".join(table) + "\n"
    return (
        joined.count("\n") == len(table)
        and _PORTABLE_IDS.fullmatch(joined) is not None
        and all(type(body) is dict and "id" not in body for body in table.values())
    )


def _check_tables(
    table: dict[str, Any], found: _Collector, cadences: frozenset[Cadence] | None
) -> list[tuple[KeyPath, dict[str, Any]]]:
    """Check each job's ID and shape; return the job tables to validate with the model."""
    candidates: list[tuple[KeyPath, dict[str, Any]]] = []
    seen: dict[str, str] = {}
    for job_id, raw in table.items():
        parts: KeyPath = ("tool", "scheduled", job_id)
        problem = id_problem(job_id)
        if problem is not None:
            found.add(problem.code, parts, problem.message, problem.hint, at="key")
        other = seen.setdefault(job_id.lower().replace("_", "-"), job_id)
        if other != job_id:
            found.add(
                "SCH015",
                parts,
                f"job IDs {toml_repr(other)} and {toml_repr(job_id)} differ only in case or"
                ' "_" versus "-"',
                "rename one: file systems, Kubernetes and systemd may treat them as one name",
                at="key",
            )
        body = _job_table(job_id, raw, parts, found)
        if body is None:
            continue
        every = body.get("every")
        if cadences is not None and every in CADENCE_NAMES and Cadence(every) not in cadences:
            allowed = ", ".join(f'"{c.value}"' for c in Cadence if c in cadences)
            found.add(
                "SCH104",
                (*parts, "every"),
                f"this provider supports every = {allowed} only, got {toml_repr(every)}",
            )
        candidates.append((parts, body))
    return candidates


def _job_table(
    job_id: str, body: object, parts: KeyPath, found: _Collector
) -> dict[str, Any] | None:
    """The job's table ready for the model, or None (reported) when it is not a table."""
    if not isinstance(body, dict):
        found.add(
            "SCH010",
            parts,
            f"expected a table with every and entrypoint, {got(body)}",
            f"declare it as [tool.scheduled.{toml_path((job_id,))}]",
        )
        return None
    if "id" in body:
        found.add(
            "SCH017",
            (*parts, "id"),
            'unknown key "id"',
            "the job ID is the table's name; remove this key",
            at="key",
        )
        return {k: v for k, v in body.items() if k != "id"}
    return body


def _translate(
    error: Any, key: str, body: dict[str, Any], parts: KeyPath, found: _Collector
) -> None:
    kind = error["type"]
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(
            key.lower().replace("_", "").replace("-", ""), JOB_KEYS, n=1, cutoff=0.6
        )
        hint = (
            f"did you mean {toml_repr(close[0])}?"
            if close
            else (
                "a job table holds every and entrypoint, and the extension keys "
                + ", ".join(EXTENSION_KEYS)
            )
        )
        found.add("SCH017", (*parts, key), f"unknown key {toml_repr(key)}", hint, at="key")
    elif kind == "missing":
        found.add("SCH016", parts, f"missing required key {toml_repr(key)}", _KEY_HINTS.get(key))
    elif kind.startswith("SCH"):
        context = error.get("ctx") or {}
        where = context.get("key") or key  # a check across keys names the key it blames
        found.add(kind, (*parts, where), context.get("message", error["msg"]), context.get("hint"))
    else:  # pragma: no cover - every validator raises one of our codes; kept as a safety net
        code = "SCH101" if key == "every" else "SCH201"
        found.add(code, (*parts, key), f"{error['msg']}, {got(body.get(key))}")
