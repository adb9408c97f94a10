"""Pydantic models of a job and a project (SPEC.md section 3).

The validators raise `PydanticCustomError` whose *type* is our stable issue code, so the
loader can translate pydantic's errors into `Issue`s without guessing.  Pydantic never
leaks out of the package: `load()` turns its errors into `InvalidProject`.
"""

from __future__ import annotations

import difflib
import keyword
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from scheduled_spec.cadence import Cadence
from scheduled_spec.entrypoint import Entrypoint, EntrypointSyntaxError, parse_entrypoint
from scheduled_spec.errors import Issue
from scheduled_spec.extension_fields import (
    EXTENSION_KEYS,
    AtField,
    CatchUpField,
    CronField,
    ImmediatelyField,
    IntervalField,
    OverlapField,
    RetriesField,
    TimeoutField,
    TimezoneField,
    extensions_module,
    one_schedule_error,
    reissue,
)
from scheduled_spec.slots import slot_offset
from scheduled_spec.toml_words import got, toml_repr, toml_type

__all__ = [
    "CADENCE_NAMES",
    "EXTENSION_KEYS",
    "JOB_KEYS",
    "Job",
    "Project",
    "got",
    "plain_job",
    "suggest_cadence",
    "toml_repr",
    "toml_type",
    "validate_entrypoint",
    "validate_every",
]

if TYPE_CHECKING:
    from datetime import tzinfo

    from scheduled_spec.at import AtTime
    from scheduled_spec.cron import CronExpression
    from scheduled_spec.extensions import Trigger

CADENCE_NAMES: tuple[str, ...] = tuple(c.value for c in Cadence)
_CADENCES = {c.value: c for c in Cadence}
EXPECTED_CADENCE = "expected one of " + ", ".join(f'"{c}"' for c in CADENCE_NAMES)

# Spellings people use for a cadence, after lower-casing and removing spaces, "_" and "-".
_CADENCE_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(
        ("minutely", "minutes", "min", "mins", "1m", "1min", "60s", "everyminute", "perminute"),
        "minute",
    ),
    **dict.fromkeys(
        ("hourly", "hours", "hr", "hrs", "h", "1h", "1hr", "60m", "60min", "3600s", "everyhour"),
        "hour",
    ),
    **dict.fromkeys(
        (
            "daily",
            "days",
            "d",
            "1d",
            "24h",
            "1440m",
            "86400s",
            "nightly",
            "everyday",
            "perday",
            "midnight",
        ),
        "day",
    ),
    **dict.fromkeys(
        ("weekly", "weeks", "w", "wk", "1w", "1wk", "7d", "168h", "everyweek", "perweek"), "week"
    ),
    **dict.fromkeys(
        ("monthly", "months", "mo", "mon", "1mo", "1mon", "1month", "30d", "31d", "everymonth"),
        "month",
    ),
}


def suggest_cadence(value: str) -> str | None:
    """The cadence a misspelt `every` most likely meant, or None."""
    norm = "".join(ch for ch in value.lower() if ch not in " _-\t")
    if norm.startswith("every"):
        norm = norm[5:] or norm
    if norm in CADENCE_NAMES:
        return norm
    if norm in _CADENCE_SYNONYMS:
        return _CADENCE_SYNONYMS[norm]
    if norm.startswith("1") and norm[1:] in CADENCE_NAMES:
        return norm[1:]
    if norm.endswith("s") and norm[:-1] in CADENCE_NAMES:
        return norm[:-1]
    close = difflib.get_close_matches(norm, [*CADENCE_NAMES, *_CADENCE_SYNONYMS], n=1, cutoff=0.75)
    if close:
        return close[0] if close[0] in CADENCE_NAMES else _CADENCE_SYNONYMS[close[0]]
    return None


def _issue_error(code: str, message: str, hint: str | None = None) -> PydanticCustomError:
    # The message travels in the context rather than as the template, so braces in a
    # user's value are never taken for template fields.
    return PydanticCustomError(code, "{message}", {"message": message, "hint": hint})


def validate_every(value: object) -> Cadence:
    """The `every` rule: one of five strings, exactly. Raises with SCH101 or SCH103."""
    if isinstance(value, Cadence):
        return value
    if not isinstance(value, str):
        hint = 'write it as a string, for example every = "day"'
        if isinstance(value, int) and not isinstance(value, bool):
            match = [c for c in Cadence if c.seconds == value]
            if match:
                hint = f'did you mean every = "{match[0].value}"?'
        raise _issue_error("SCH101", f"{EXPECTED_CADENCE}, {got(value)}", hint)
    cadence = _CADENCES.get(value)
    if cadence is not None:
        return cadence
    suggestion = suggest_cadence(value)
    if suggestion is not None:
        advice: str | None = f'did you mean "{suggestion}"?'
    elif value.count(" ") >= 4:
        advice = 'cron expressions go in the "cron" extension key; "every" names the cadence'
    else:
        advice = None
    raise _issue_error("SCH103", f"{EXPECTED_CADENCE}, {got(value)}", advice) from None


def validate_entrypoint(value: object) -> Entrypoint:
    """The `entrypoint` rule: a ``module:attribute`` object reference. Raises SCH201-SCH206."""
    if isinstance(value, Entrypoint):
        return value
    if not isinstance(value, str):
        raise _issue_error(
            "SCH201",
            f'expected a string "module:attribute", {got(value)}',
            'for example entrypoint = "app.jobs:clean_files"',
        )
    try:
        return parse_entrypoint(value)
    except EntrypointSyntaxError as exc:
        raise _issue_error(exc.code, str(exc), exc.hint) from None


# An identifier (Unicode letters allowed, as in Python) that is not a keyword; JSON Schema
# validators running Python's `re` (validate-pyproject) match non-ASCII letters with \w.
_IDENTIFIER = r"(?!(?:{})(?![\w]))[^\W\d]\w*".format("|".join(keyword.kwlist))
ENTRYPOINT_PATTERN = rf"^{_IDENTIFIER}(?:\.{_IDENTIFIER})*:{_IDENTIFIER}(?:\.{_IDENTIFIER})*$"

CadenceField = Annotated[
    Cadence,
    PlainValidator(validate_every),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "enum": list(CADENCE_NAMES)}),
    Field(
        description="The promise: the job runs at least once in every period of this cadence"
        " (UTC; a week starts on Monday, a month on the 1st).",
        examples=["day"],
    ),
]
EntrypointField = Annotated[
    Entrypoint,
    PlainValidator(validate_entrypoint),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": ENTRYPOINT_PATTERN}),
    Field(
        description='What to call: "module:attribute", an importable module, a colon and'
        " the dotted name of a callable that takes no arguments.",
        examples=["app.jobs:clean_files", "app.tasks:Reports.weekly"],
    ),
]


class Job(BaseModel):
    """One declared job: ``[tool.scheduled.<id>]`` with its `every` and `entrypoint`."""

    # Built on first use: the loader makes plain jobs with `plain_job`, so a quick
    # `scheduled validate` of a valid project never pays for building the validator.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: str
    every: CadenceField
    entrypoint: EntrypointField
    # Extensions (SPEC.md part 9), in the order their validators may look back: `at` needs
    # `every`; `cron` and `interval` need the keys they exclude.
    at: AtField = None
    timezone: TimezoneField = None
    cron: CronField = None
    interval: IntervalField = None
    immediately: ImmediatelyField = False
    timeout: TimeoutField = None
    retries: RetriesField = None
    overlap: OverlapField = None
    catch_up: Annotated[CatchUpField, Field(alias="catch-up")] = None

    @model_validator(mode="wrap")
    @classmethod
    def _one_schedule(cls, data: Any, handler: ModelWrapValidatorHandler[Job]) -> Job:
        # SCH305 looks at the keys as written, in document order, whether or not their values
        # are valid, and joins the other keys' errors, so that every problem is reported.
        chosen = [k for k in ("at", "cron", "interval") if k in data] if type(data) is dict else []
        if len(chosen) < 2:
            job: Job = handler(data)
            return job
        first, *later = (k for k in data if k in chosen)
        clashes = [one_schedule_error(key, first, data[key]) for key in later]
        try:
            handler(data)
        except ValidationError as exc:
            errors = reissue(exc)  # a later key's own problem is reported too
            raise ValidationError.from_exception_data(exc.title, [*errors, *clashes]) from None
        raise ValidationError.from_exception_data(cls.__name__, clashes)

    @property
    def extension_keys(self) -> tuple[str, ...]:
        """The extension keys this job uses, as TOML names (empty for a portable job)."""
        used: tuple[str, ...] | None = self.__dict__.get("_extension_keys")
        if used is None:
            values = self.__dict__
            used = self.__dict__["_extension_keys"] = tuple(
                key for key in EXTENSION_KEYS if values[key.replace("-", "_")] not in (None, False)
            )
        return used

    def trigger(self) -> Trigger:
        """What decides the runs: kind ("slot", "at", "cron", "interval"), zone, parsed value."""
        found: Trigger | None = self.__dict__.get("_trigger")
        if found is None:
            found = self.__dict__["_trigger"] = extensions_module().trigger(self)
        return found

    def zone(self) -> tzinfo:
        """The job's time zone (UTC without `timezone`)."""
        return self.trigger().zone

    def at_time(self) -> AtTime | None:
        """The parsed `at`, or None."""
        return self.trigger().at

    def cron_expression(self) -> CronExpression | None:
        """The compiled `cron`, or None."""
        return self.trigger().cron

    def offset(self, salt: str = "") -> int:
        """Seconds from each period's start to this job's run (the SHA-256 slot rule)."""
        # Offsets by salt, computed once per job (providers ask on every tick) and kept in
        # the instance dict beside the fields; pydantic compares and dumps fields only.
        known: dict[str, int] | None = self.__dict__.get("_offsets")
        if known is None:
            known = self.__dict__["_offsets"] = {}
        offset = known.get(salt)
        if offset is None:
            offset = known[salt] = slot_offset(self.id, self.every, salt=salt)
        return offset


_JOB_FIELDS_SET = frozenset({"id", "every", "entrypoint"})
_PLAIN_FIELDS_SET = set(_JOB_FIELDS_SET)
_DEFAULTS: dict[str, object] = {
    "at": None,
    "timezone": None,
    "cron": None,
    "interval": None,
    "immediately": False,
    "timeout": None,
    "retries": None,
    "overlap": None,
    "catch_up": None,
}
_new_object = object.__new__
_set = object.__setattr__


def plain_job(job_id: str, table: dict[str, object]) -> Job | None:
    """The job of a table holding exactly a valid `every` and `entrypoint`, else None.

    The same rules as `Job.model_validate` (the same validator functions), without pydantic's
    generic machinery: this is how the loader builds the common job, fast. None means "ask the
    model", which accepts what else is valid and words what is wrong. Tests hold the two to
    the same verdicts.
    """
    if len(table) != 2:
        return None
    every, entrypoint = table.get("every"), table.get("entrypoint")
    cadence = _CADENCES.get(every) if type(every) is str else None
    if cadence is None or type(entrypoint) is not str:
        return None
    try:
        parsed = parse_entrypoint(entrypoint)
    except EntrypointSyntaxError:
        return None
    # What BaseModel.model_construct does, for exactly these fields.
    job = _new_object(Job)
    _set(job, "__dict__", {"id": job_id, "every": cadence, "entrypoint": parsed, **_DEFAULTS})
    # One set shared by every plain job: a frozen job never adds to it, and model_copy
    # copies it before updating (tests/test_models.py checks both).
    _set(job, "__pydantic_fields_set__", _PLAIN_FIELDS_SET)
    _set(job, "__pydantic_extra__", None)
    _set(job, "__pydantic_private__", None)
    return job


#: The keys a job table may hold, in the order the spec lists them.
JOB_KEYS: tuple[str, ...] = ("every", "entrypoint", *EXTENSION_KEYS)


class Project(BaseModel):
    """A validated project: its jobs in document order, and the warnings found."""

    # The loader builds projects from validated jobs with model_construct, so the validator
    # is only built if someone validates a Project directly.
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, defer_build=True)

    jobs: tuple[Job, ...]
    path: Path | None = None
    issues: tuple[Issue, ...] = ()

    @property
    def root(self) -> Path | None:
        """The directory holding the project's pyproject.toml (None when loaded from text)."""
        return self.path.parent if self.path is not None else None

    def job(self, job_id: str) -> Job:
        """The job with this ID. Raises KeyError, with close IDs in its message."""
        for job in self.jobs:
            if job.id == job_id:
                return job
        close = difflib.get_close_matches(job_id, [j.id for j in self.jobs], n=3)
        hint = f"; did you mean {', '.join(map(toml_repr, close))}?" if close else ""
        raise KeyError(f"no job {toml_repr(job_id)} in [tool.scheduled]{hint}")
