"""The JSON Schema of ``[tool.scheduled]``, generated from the models (SPEC.md section 7.5).

`tool_schema()` builds it from `scheduled_spec.models` (pydantic); the package ships the same
schema as ``tool-scheduled.schema.json`` so that `validate_pyproject_plugin` can hand it to
validate-pyproject without importing pydantic. A test keeps the two identical.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

SCHEMA_ID = "https://scheduled-spec.readthedocs.io/schema/tool-scheduled.schema.json"
PACKAGED = "tool-scheduled.schema.json"
MAX_ID_LENGTH = 128
# No control characters (Unicode Cc, and the line and paragraph separators), as SPEC 3.2.1.
_ID_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"
# SPEC.md 9.1.3: a job has at most one of at, cron, interval.
ONE_SCHEDULE: dict[str, Any] = {
    "not": {
        "anyOf": [
            {"required": ["at", "cron"]},
            {"required": ["at", "interval"]},
            {"required": ["cron", "interval"]},
        ]
    }
}


def tool_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the ``[tool.scheduled]`` table."""
    from scheduled_spec.models import Job  # noqa: PLC0415 - keeps the plugin path pydantic-free

    job = Job.model_json_schema()
    job.pop("title", None)
    job["properties"].pop("id")
    job["required"] = [key for key in job["required"] if key != "id"]
    for prop in job["properties"].values():
        prop.pop("title", None)
        prop.pop("default", None)  # an absent key means the provider's default, not null
    job["description"] = (
        "One job. The table's name is the job ID; every and entrypoint are required; the other"
        " keys are extensions of the reference provider (not portable), and no other key is"
        " allowed."
    )
    job.update(ONE_SCHEDULE)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "[tool.scheduled]",
        "description": (
            "Recurring jobs of this project: one table per job, named by the job's ID."
            " A provider runs each job at least once per period of its cadence."
        ),
        "type": "object",
        "propertyNames": {
            "minLength": 1,
            "maxLength": MAX_ID_LENGTH,
            "pattern": _ID_PATTERN,
            "description": "The job ID: 1 to 128 characters, no control characters. Lowercase"
            " letters, digits and - (at most 52) work as names in every common scheduler.",
        },
        "additionalProperties": job,
        "examples": [
            {
                "clean-files": {"every": "day", "entrypoint": "app.jobs:clean_files"},
                "send-digest": {"every": "week", "entrypoint": "app.jobs:send_digest"},
            }
        ],
    }


def render(schema: dict[str, Any]) -> str:
    """The schema as committed: sorted keys are not used, so the file reads top-down."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def packaged_schema() -> dict[str, Any]:
    """The schema shipped inside the package (identical to `tool_schema()`)."""
    data: dict[str, Any] = json.loads(
        files("scheduled_spec").joinpath(PACKAGED).read_text(encoding="utf-8")
    )
    return data


def validate_pyproject_plugin(tool_name: str) -> dict[str, Any]:
    """Jobs declared in [tool.scheduled]: cadences, entrypoints, job IDs (scheduled-spec)."""
    # validate-pyproject shows the docstring above as its help, and compiles schemas as draft
    # 07; ours uses only keywords that mean the same in 07 and 2020-12, so only "$schema"
    # changes.
    schema = packaged_schema()
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return schema
