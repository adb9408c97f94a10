"""The extension keys of a job table as model fields (SPEC.md part 9).

The fields hold plain values; each validator checks the TOML type here (SCH300) and imports
`scheduled_spec.extensions` for the rest only when a table holds the key, so projects without
extensions never load the cron engine or the time zone database.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainValidator, ValidationError, ValidationInfo, WithJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError

from scheduled_spec.toml_words import got

#: The extension keys, as written in TOML, in the order the spec lists them.
EXTENSION_KEYS: tuple[str, ...] = (
    "at",
    "timezone",
    "cron",
    "interval",
    "immediately",
    "timeout",
    "retries",
    "overlap",
    "catch-up",
)
_DURATION_TYPE = 'a number of seconds or a duration string such as "20s"'


def _issue_error(code: str, message: str, hint: str | None = None) -> PydanticCustomError:
    return PydanticCustomError(code, "{message}", {"message": message, "hint": hint})


def _type_error(key: str, expected: str, value: object) -> PydanticCustomError:
    return _issue_error(
        "SCH300", f"expected {expected}, {got(value)}", _quoted_number_hint(key, value)
    )


def _quoted_number_hint(key: str, value: object) -> str | None:
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        return f"write {key} = {value.strip()} without quotes"
    return None


def _string(key: str, value: object, example: str) -> str:
    if type(value) is not str:
        raise _type_error(key, f"a string such as {example}", value)
    return value


def _number_or_string(key: str, value: object) -> float | str:
    if type(value) is str or type(value) is int or type(value) is float:
        return value
    raise _type_error(key, _DURATION_TYPE, value)


def one_schedule_error(key: str, other: str, value: object) -> InitErrorDetails:
    """SCH305 on `key`, the second of at, cron, interval in the table."""
    return {
        "type": _issue_error(
            "SCH305",
            f"{key} cannot be combined with {other}: a job has at most one of at, cron, interval",
            "keep one; to run at other times too, declare another job",
        ),
        "loc": (key,),
        "input": value,
    }


def reissue(exc: ValidationError) -> list[InitErrorDetails]:
    """A ValidationError's errors in the form that builds one again."""
    errors: list[InitErrorDetails] = []
    for error in exc.errors(include_url=False):
        ctx = error.get("ctx") or {}
        kind: Any = error["type"]
        if kind.startswith("SCH"):
            kind = _issue_error(kind, ctx.get("message", error["msg"]), ctx.get("hint"))
        detail: InitErrorDetails = {"type": kind, "loc": error["loc"], "input": error["input"]}
        if ctx and kind.__class__ is not PydanticCustomError:
            detail["ctx"] = ctx
        errors.append(detail)
    return errors


def extensions_module() -> Any:
    from scheduled_spec import extensions  # noqa: PLC0415 - loaded on first extension key

    return extensions


def validate_at(value: object, info: ValidationInfo) -> str:
    """`at`: a string (SCH300) in the form of the job's cadence (SCH301)."""
    text = _string("at", value, '"22:15"')
    return str(extensions_module().check_at(text, info.data.get("every")))


def validate_timezone(value: object) -> str:
    """`timezone`: a string (SCH300) naming an IANA zone (SCH302)."""
    return str(extensions_module().check_timezone(_string("timezone", value, '"Europe/Stockholm"')))


def validate_cron(value: object) -> str:
    """`cron`: a string (SCH300) in the cron grammar (SCH303) that can fire (SCH311)."""
    text = _string("cron", value, '"0 9 * * mon-fri"')
    return str(extensions_module().check_cron(text))


def validate_interval(value: object) -> float:
    """`interval`: seconds or a duration (SCH300), >= 0.1 s, whole ms (SCH304). Seconds."""
    raw = _number_or_string("interval", value)
    return float(extensions_module().check_interval(raw))


def validate_immediately(value: object) -> bool:
    """`immediately`: a boolean (SCH300)."""
    if type(value) is not bool:
        raise _type_error("immediately", "a boolean (true or false)", value)
    return value


def validate_timeout(value: object) -> float:
    """`timeout`: a positive number of seconds or a duration (SCH300, SCH306). Seconds."""
    return float(extensions_module().check_timeout(_number_or_string("timeout", value)))


def validate_retries(value: object) -> int:
    """`retries`: an integer (SCH300), zero or more (SCH306)."""
    if type(value) is not int:
        raise _type_error("retries", "an integer such as 3", value)
    return int(extensions_module().check_retries(value))


def validate_overlap(value: object) -> str:
    """`overlap`: "buffer-one", "skip" or "allow" (SCH300, SCH306)."""
    text = _string("overlap", value, '"skip"')
    return str(extensions_module().check_choice(text, ("buffer-one", "skip", "allow")))


def validate_catch_up(value: object) -> str:
    """`catch-up`: "latest", "all" or "none" (SCH300, SCH306)."""
    text = _string("catch-up", value, '"latest"')
    return str(extensions_module().check_choice(text, ("latest", "all", "none")))


_DURATION_PATTERN = r"^[0-9]+(\.[0-9]+)?(ms|s|m|h)$"
AtField = Annotated[
    str | None,
    PlainValidator(validate_at),
    WithJsonSchema(
        {
            "type": "string",
            "description": "Extension: a fixed wall time in each period instead of the hashed"
            ' slot: ":SS" (minute), ":MM[:SS]" (hour), "HH:MM[:SS]" (day),'
            ' "mon HH:MM[:SS]" (week), "DD HH:MM[:SS]" with DD 1-28 (month).',
        }
    ),
]
TimezoneField = Annotated[
    str | None,
    PlainValidator(validate_timezone),
    WithJsonSchema(
        {
            "type": "string",
            "description": "Extension: an IANA time zone name; periods and at are then local.",
            "examples": ["Europe/Stockholm"],
        }
    ),
]
CronField = Annotated[
    str | None,
    PlainValidator(validate_cron),
    WithJsonSchema(
        {
            "type": "string",
            "description": "Extension: a cron expression (5 fields, or 6 with a year, or an"
            " @alias) choosing the runs inside every's promise.",
            "examples": ["0 9 * * mon-fri"],
        }
    ),
]
IntervalField = Annotated[
    float | None,
    PlainValidator(validate_interval),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0.1},
                {"type": "string", "pattern": _DURATION_PATTERN},
            ],
            "description": "Extension: fixed-rate ticks, in seconds (at least 0.1, whole"
            ' milliseconds) or a duration such as "20s", "5m", "1.5s".',
        }
    ),
]
ImmediatelyField = Annotated[
    bool,
    PlainValidator(validate_immediately),
    WithJsonSchema(
        {
            "type": "boolean",
            "description": "Extension: one extra run when the provider starts.",
        }
    ),
]
TimeoutField = Annotated[
    float | None,
    PlainValidator(validate_timeout),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": _DURATION_PATTERN},
            ],
            "description": "Extension (run policy): how long a run may take, in seconds or as"
            ' a duration such as "10m".',
        }
    ),
]
RetriesField = Annotated[
    int | None,
    PlainValidator(validate_retries),
    WithJsonSchema(
        {
            "type": "integer",
            "minimum": 0,
            "description": "Extension (run policy): how many times a failed run is retried.",
        }
    ),
]
OverlapField = Annotated[
    str | None,
    PlainValidator(validate_overlap),
    WithJsonSchema(
        {
            "type": "string",
            "enum": ["buffer-one", "skip", "allow"],
            "description": "Extension (run policy): what happens when a run is due while the"
            " previous one still runs.",
        }
    ),
]
CatchUpField = Annotated[
    str | None,
    PlainValidator(validate_catch_up),
    WithJsonSchema(
        {
            "type": "string",
            "enum": ["latest", "all", "none"],
            "description": "Extension (run policy): which missed periods run after downtime.",
        }
    ),
]
