"""Job IDs (SPEC.md 3.2): which are errors, which are not portable, and why."""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from scheduled_spec.toml_words import toml_repr

MAX_ID_LENGTH = 128
PORTABLE_ID_LENGTH = 52
PORTABLE_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,50}[a-z0-9])?")


class IdProblem(NamedTuple):
    """An issue about a job ID, reported at the ID."""

    code: str
    message: str
    hint: str | None = None


def id_problem(job_id: str) -> IdProblem | None:
    """The problem of a job ID (SCH011-SCH014, SPEC.md 3.2), or None for a portable ID."""
    if PORTABLE_ID.fullmatch(job_id):
        return None
    if not job_id:
        return IdProblem(
            "SCH011",
            "the job ID is empty",
            "name the job: [tool.scheduled.my-job]",
        )
    control = next((ch for ch in job_id if unicodedata.category(ch) in ("Cc", "Zl", "Zp")), None)
    if control is not None:
        return IdProblem(
            "SCH012",
            f"the job ID {toml_repr(job_id)} contains the control character U+{ord(control):04X}",
            "use letters, digits and - in job IDs",
        )
    if len(job_id) > MAX_ID_LENGTH:
        return IdProblem(
            "SCH013",
            f"the job ID is {len(job_id)} characters long; at most {MAX_ID_LENGTH} are allowed",
        )
    breaks = []
    if not PORTABLE_ID.fullmatch(job_id):
        breaks.append(
            "Kubernetes CronJob and systemd unit names allow lowercase letters, digits and"
            ' "-" (not first or last) only'
        )
    if len(job_id) > PORTABLE_ID_LENGTH:
        breaks.append(f"Kubernetes CronJob names are at most {PORTABLE_ID_LENGTH} characters")
    portable = re.sub(r"[^a-z0-9]+", "-", job_id.lower()).strip("-")[:PORTABLE_ID_LENGTH].strip("-")
    hint = f"a portable ID would be {toml_repr(portable)}" if portable else None
    return IdProblem(
        "SCH014",
        f"the job ID {toml_repr(job_id)} is not portable: {'; '.join(breaks)}",
        hint,
    )
