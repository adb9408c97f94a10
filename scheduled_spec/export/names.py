"""Names that target schedulers accept, made from job IDs without ever colliding."""

from __future__ import annotations

import re
from hashlib import sha256

from scheduled_spec.export.base import ExportError

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


def dns_label(job_id: str, max_length: int = 52) -> str:
    """A DNS-1123 label of at most `max_length` characters naming `job_id`.

    A portable ID is its own name; any other gets a readable stem plus eight hex digits of
    the SHA-256 of the ID, so two distinct IDs get distinct names.
    """
    if len(job_id) <= max_length and _LABEL.fullmatch(job_id):
        return job_id
    digest = sha256(job_id.encode("utf-8")).hexdigest()[:8]
    stem = re.sub(r"[^a-z0-9]+", "-", job_id.lower()).strip("-")[: max_length - 9].strip("-")
    return f"{stem}-{digest}" if stem else f"job-{digest}"


def unique(target: str, names: dict[str, str]) -> dict[str, str]:
    """`names` (job ID -> name) unchanged, or ExportError when two jobs share a name."""
    seen: dict[str, str] = {}
    for job_id, name in names.items():
        if name in seen:
            raise ExportError(
                target, [f"jobs {seen[name]!r} and {job_id!r} would both be named {name!r}"]
            )
        seen[name] = job_id
    return names
