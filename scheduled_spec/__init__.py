"""scheduled-spec: scheduled jobs declared in pyproject.toml.

Parse and validate ``[tool.scheduled]``, compute each job's SHA-256 slot, and ask when it
runs next. Nothing here imports the project's code, reads the clock or prints.

>>> from datetime import datetime, timezone
>>> project = load('''
... [tool.scheduled.clean-files]
... every = "day"
... entrypoint = "app.jobs:clean_files"
... ''')
>>> job = project.jobs[0]
>>> job.offset()
29712
>>> next_run(job, datetime(2026, 11, 24, tzinfo=timezone.utc)).at.isoformat()
'2026-11-24T08:15:12+00:00'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduled_spec.cadence import PERIOD_SECONDS, Cadence, parse_period_key
    from scheduled_spec.entrypoint import (
        Entrypoint,
        EntrypointSyntaxError,
        parse_entrypoint,
        resolve,
    )
    from scheduled_spec.errors import (
        EntrypointError,
        InvalidProject,
        Issue,
        NaiveDatetimeError,
        ProjectFileError,
        ScheduledError,
        Severity,
    )
    from scheduled_spec.loader import Report, load, validate
    from scheduled_spec.models import Job, Project
    from scheduled_spec.schedule import (
        Period,
        Run,
        count_periods,
        next_run,
        period_of,
        runs_between,
    )
    from scheduled_spec.slots import slot_offset

__all__ = [
    "PERIOD_SECONDS",
    "Cadence",
    "Entrypoint",
    "EntrypointError",
    "EntrypointSyntaxError",
    "InvalidProject",
    "Issue",
    "Job",
    "NaiveDatetimeError",
    "Period",
    "Project",
    "ProjectFileError",
    "Report",
    "Run",
    "ScheduledError",
    "Severity",
    "count_periods",
    "load",
    "next_run",
    "parse_entrypoint",
    "parse_period_key",
    "period_of",
    "resolve",
    "runs_between",
    "slot_offset",
    "validate",
]
__version__ = "0.1.0"

# The public names are imported on first use (PEP 562): a tool that needs one small module of
# this package, such as validate-pyproject loading the schema plugin, does not pay for
# pydantic.
_WHERE = {
    "Cadence": "scheduled_spec.cadence",
    "Entrypoint": "scheduled_spec.entrypoint",
    "EntrypointError": "scheduled_spec.errors",
    "EntrypointSyntaxError": "scheduled_spec.entrypoint",
    "InvalidProject": "scheduled_spec.errors",
    "Issue": "scheduled_spec.errors",
    "Job": "scheduled_spec.models",
    "NaiveDatetimeError": "scheduled_spec.errors",
    "PERIOD_SECONDS": "scheduled_spec.cadence",
    "Period": "scheduled_spec.schedule",
    "Project": "scheduled_spec.models",
    "ProjectFileError": "scheduled_spec.errors",
    "Report": "scheduled_spec.loader",
    "Run": "scheduled_spec.schedule",
    "ScheduledError": "scheduled_spec.errors",
    "Severity": "scheduled_spec.errors",
    "count_periods": "scheduled_spec.schedule",
    "load": "scheduled_spec.loader",
    "next_run": "scheduled_spec.schedule",
    "parse_entrypoint": "scheduled_spec.entrypoint",
    "parse_period_key": "scheduled_spec.cadence",
    "period_of": "scheduled_spec.schedule",
    "resolve": "scheduled_spec.entrypoint",
    "runs_between": "scheduled_spec.schedule",
    "slot_offset": "scheduled_spec.slots",
    "validate": "scheduled_spec.loader",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'scheduled_spec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
