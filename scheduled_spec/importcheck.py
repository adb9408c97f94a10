"""``--check-imports``: import each entrypoint in a child interpreter, with a timeout.

Importing runs the project's code, which may print, hang or crash; a child process keeps
all of that away from the caller. The child writes one JSON line per entrypoint on a
private copy of stdout, so what the project prints cannot be mistaken for a result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from scheduled_spec.entrypoint import resolve
from scheduled_spec.errors import EntrypointError


class ImportProblem(NamedTuple):
    """An entrypoint that failed to resolve: job ID, issue code (SCH210-SCH213), message."""

    job_id: str
    code: str
    message: str


_CHILD = "from scheduled_spec.importcheck import _child_main; _child_main()"


def check_imports(
    entrypoints: Sequence[tuple[str, str]],
    root: Path,
    *,
    timeout: float = 10.0,
    python: str = sys.executable,
) -> list[ImportProblem]:
    """Resolve each ``(job ID, "module:attr")`` in a child with `root` first on sys.path.

    A child that does not finish within `timeout` seconds is killed; the entrypoint it was
    importing is reported as SCH213 and the rest are checked in a fresh child.
    """
    problems: list[ImportProblem] = []
    pending = list(entrypoints)
    while pending:
        done, problems_now, stuck = _run_child(pending, root, timeout, python)
        problems.extend(problems_now)
        pending = pending[done:]
        if stuck:
            job_id, entrypoint = pending.pop(0)
            problems.append(
                ImportProblem(
                    job_id,
                    "SCH213",
                    f'importing "{entrypoint}" did not finish within {timeout:g} s'
                    " (an import-time side effect that blocks?)",
                )
            )
    return problems


def _run_child(
    pending: list[tuple[str, str]], root: Path, timeout: float, python: str
) -> tuple[int, list[ImportProblem], bool]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with subprocess.Popen(
        [python, "-c", _CHILD, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=root,
        env=env,
        text=True,
        start_new_session=True,
    ) as child:
        try:
            out, _ = child.communicate(json.dumps(pending), timeout=timeout)
            stuck = False
        except subprocess.TimeoutExpired:
            child.kill()
            out, _ = child.communicate()
            stuck = True
    problems: list[ImportProblem] = []
    done = 0
    for line in out.splitlines():
        result = json.loads(line)
        done += 1
        if result["code"]:
            problems.append(ImportProblem(result["job"], result["code"], result["message"]))
    if not stuck and done < len(pending):
        # The child died without a word (os._exit or a crash while importing).
        job_id, entrypoint = pending[done]
        problems.append(
            ImportProblem(
                job_id,
                "SCH210",
                f'importing "{entrypoint}" ended the interpreter (exit code {child.returncode})',
            )
        )
        done += 1
    return done, problems, stuck


def _child_main() -> None:  # pragma: no cover - runs in the child interpreter
    results = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the project prints on import goes to stderr, not to our results
    root = sys.argv[1]
    sys.path.insert(0, root)
    for job_id, entrypoint in json.load(sys.stdin):
        try:
            resolve(entrypoint)
            result = {"job": job_id, "code": None, "message": ""}
        except EntrypointError as exc:
            result = {"job": job_id, "code": exc.code, "message": str(exc)}
        results.write(json.dumps(result) + "\n")
        results.flush()
