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

from scheduled_spec.cadence import PERIOD_SECONDS, Cadence, parse_period_key
from scheduled_spec.entrypoint import Entrypoint, EntrypointSyntaxError, parse_entrypoint, resolve
from scheduled_spec.errors import (
    EntrypointError,
    InvalidProject,
    Issue,
    NaiveDatetimeError,
    ProjectFileError,
    ScheduledError,
    Severity,
)
from scheduled_spec.load import Report, load, validate
from scheduled_spec.models import Job, Project
from scheduled_spec.schedule import Period, Run, count_periods, next_run, period_of, runs_between
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
