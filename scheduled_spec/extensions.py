"""The extension keys of a job table (SPEC.md part 9): their rules and their promise proofs.

`scheduled_spec.models` checks each key's TOML type itself and calls the functions here for
everything else, importing this module on first need: a project without extensions never
loads the cron engine, the `at` grammar or the time zone database. Each check raises
`PydanticCustomError` whose type is the issue code, like the core's validators.
"""

from __future__ import annotations

import difflib
import math
import re
from datetime import datetime, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from hashlib import sha256
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic_core import PydanticCustomError

from scheduled_spec.at import AtSyntaxError, AtTime, parse_at
from scheduled_spec.cadence import Cadence
from scheduled_spec.cron import CronExpression, parse_cron
from scheduled_spec.cron_parse import CronSyntaxError
from scheduled_spec.slots import slot_key
from scheduled_spec.toml_words import toml_repr

if TYPE_CHECKING:
    from scheduled_spec.models import Job
    from scheduled_spec.promise import Promise

UTC = timezone.utc
MIN_INTERVAL_MS = 100
OVERLAP_CHOICES = ("buffer-one", "skip", "allow")
CATCH_UP_CHOICES = ("latest", "all", "none")
_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
# Files of the tz database that are not IANA zone names.
_NOT_ZONES = ("localtime", "posixrules", "Factory")
_NOT_ZONE_PREFIXES = ("posix/", "right/", "SystemV/")


def _error(code: str, message: str, hint: str | None = None) -> PydanticCustomError:
    return PydanticCustomError(code, "{message}", {"message": message, "hint": hint})


def _did_you_mean(value: str, choices: tuple[str, ...]) -> str | None:
    norm = value.strip().lower().replace("_", "-").replace(" ", "-")
    if norm in choices:
        return f"did you mean {toml_repr(norm)}?"
    close = difflib.get_close_matches(norm, choices, n=1, cutoff=0.6)
    return f"did you mean {toml_repr(close[0])}?" if close else None


# --- at ---------------------------------------------------------------------------------


def check_at(text: str, every: Cadence | None) -> str:
    """SCH301: `at` fits the form of its cadence (unchecked while `every` is invalid)."""
    if every is None:
        return text
    try:
        parse_at(every, text)
    except AtSyntaxError as exc:
        hint = _at_hint(text, every)
        reason = "" if exc.reason == "does not match the form" else f": {exc.reason}"
        if exc.reason.startswith("is "):
            reason = f", which {exc.reason}"
        message = f'expected {exc.expected} for every = "{every.value}", got {toml_repr(text)}'
        raise _error("SCH301", message + reason, hint) from None
    return text


def _at_hint(text: str, every: Cadence) -> str | None:
    padded = re.sub(r"(?<!\d)(\d)(?!\d)", r"0\1", text)
    if padded != text:
        try:
            parse_at(every, padded)
        except AtSyntaxError:
            pass
        else:
            return f"did you mean {toml_repr(padded)}?"
    for other in Cadence:
        if other is not every:
            try:
                parse_at(other, text)
            except AtSyntaxError:
                continue
            return f'this is the form of every = "{other.value}"'
    return None


def at_time(job: Job) -> AtTime | None:
    """The parsed `at` of a valid job."""
    return None if job.at is None else parse_at(job.every, job.at)


# --- timezone -----------------------------------------------------------------------------


@lru_cache(maxsize=256)
def load_zone(name: str) -> ZoneInfo:
    """The zone of an IANA name. Raises ZoneInfoNotFoundError or ValueError."""
    if name in _NOT_ZONES or name.startswith(_NOT_ZONE_PREFIXES):
        raise ZoneInfoNotFoundError(name)
    return ZoneInfo(name)


def check_timezone(name: str) -> str:
    """SCH302: `timezone` names a zone of the IANA database."""
    try:
        load_zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _error(
            "SCH302",
            f'expected an IANA time zone name such as "Europe/Stockholm", got {toml_repr(name)}',
            _zone_hint(name),
        ) from None
    return name


def _zone_hint(name: str) -> str | None:
    from zoneinfo import available_timezones  # noqa: PLC0415 - reads the disk: error path only

    if name in _NOT_ZONES or name.startswith(_NOT_ZONE_PREFIXES):
        return 'a file of the tz database, not a zone name; name a zone such as "UTC"'
    names = sorted(n for n in available_timezones() if n not in _NOT_ZONES)
    by_lower = {n.lower(): n for n in names}
    key = name.strip().replace(" ", "_").lower()
    if key in by_lower:
        return f"did you mean {toml_repr(by_lower[key])}?"
    close = difflib.get_close_matches(key, list(by_lower), n=1, cutoff=0.75)
    if close:
        return f"did you mean {toml_repr(by_lower[close[0]])}?"
    return 'IANA names look like "Area/City"; "UTC" is the default'


# --- cron ---------------------------------------------------------------------------------


def check_cron(text: str) -> str:
    """SCH303 (grammar, with a caret) and SCH311 (no date ever matches)."""
    try:
        expression = parse_cron(text)
    except CronSyntaxError as exc:
        raise _error("SCH303", exc.render(), exc.hint) from None
    if not expression.can_fire():
        raise _error(
            "SCH311",
            f"{toml_repr(text)} never runs: no date matches it",
            "no month has that day: check the day of the month against the months",
        )
    return text


# --- durations: interval and timeout -------------------------------------------------------


def duration_ms(value: float | str) -> Decimal | None:
    """Milliseconds of a number of seconds or a duration string, None when it is neither."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match is None:
            return None
        return Decimal(match[1]) * _UNITS_MS[match[2]]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        return Decimal(repr(value)) * 1_000
    except InvalidOperation:  # pragma: no cover - every finite float has a repr Decimal reads
        return None


def check_interval(value: float | str) -> float:
    """SCH304: at least 0.1 s, a duration, in whole milliseconds. Returns seconds."""
    ms = duration_ms(value)
    if ms is None:
        raise _error(
            "SCH304",
            'expected a number of seconds or a duration such as "20s", "5m", "1.5s",'
            f" got {toml_repr(value)}",
            "units: ms, s, m, h; no space between the number and the unit",
        )
    if ms < MIN_INTERVAL_MS:
        raise _error(
            "SCH304",
            f"expected at least 0.1 seconds, got {toml_repr(value)}",
            "the shortest interval is 0.1 s, that is 100 ms",
        )
    if ms != ms.to_integral_value():
        whole = ms.to_integral_value()
        raise _error(
            "SCH304",
            f"expected whole milliseconds, got {toml_repr(value)} ({ms.normalize()} ms)",
            f"ticks are placed to the millisecond: use {float(whole / 1000)!r}",
        )
    return float(ms / 1_000)


def check_timeout(value: float | str) -> float:
    """SCH306: a positive number of seconds or a duration. Returns seconds."""
    ms = duration_ms(value)
    if ms is None or ms <= 0:
        raise _error(
            "SCH306",
            'expected a positive number of seconds or a duration such as "30s", "10m",'
            f" got {toml_repr(value)}",
        )
    return float(ms / 1_000)


def check_retries(value: int) -> int:
    """SCH306: zero or more."""
    if value < 0:
        raise _error("SCH306", f"expected an integer at least 0, got {toml_repr(value)}")
    return value


def check_choice(value: str, choices: tuple[str, ...]) -> str:
    """SCH306: one of the choices, exactly."""
    if value not in choices:
        expected = ", ".join(toml_repr(c) for c in choices)
        raise _error(
            "SCH306",
            f"expected one of {expected}, got {toml_repr(value)}",
            _did_you_mean(value, choices),
        )
    return value


# --- the trigger of a valid job ----------------------------------------------------------


class Trigger(NamedTuple):
    """What decides a job's runs: ``kind`` is "slot", "at", "cron" or "interval"."""

    kind: str
    zone: tzinfo
    zone_name: str
    at: AtTime | None = None
    cron: CronExpression | None = None
    interval_ms: int = 0


def trigger(job: Job) -> Trigger:
    """The trigger of a valid job (its keys already checked)."""
    name = job.timezone or "UTC"
    zone: tzinfo = UTC if job.timezone is None else load_zone(job.timezone)
    if job.cron is not None:
        return Trigger("cron", zone, name, cron=parse_cron(job.cron))
    if job.interval is not None:
        return Trigger("interval", zone, name, interval_ms=round(job.interval * 1_000))
    if job.at is not None:
        return Trigger("at", zone, name, at=parse_at(job.every, job.at))
    return Trigger("slot", zone, name)


def phase_ms(job_id: str, interval_ms: int, salt: str = "") -> int:
    """The hashed phase of an interval: the slot rule's hash, modulo the interval (ms)."""
    digest = sha256(slot_key(job_id, salt)).digest()
    return int.from_bytes(digest[:8], "big") % interval_ms


# --- the promise ---------------------------------------------------------------------------


def extension_issues(job: Job, start: datetime) -> list[tuple[str, str | None, str, str | None]]:
    """The issues of a valid job with extension keys: ``(code, key, message, hint)``.

    SCH320 (key None: reported at the job ID) always; SCH310 or SCH311 when the schedule
    does not keep `every`'s promise from `start` (SPEC.md 9.8).
    """
    from scheduled_spec.promise import describe_broken_promise  # noqa: PLC0415

    keys = job.extension_keys
    found: list[tuple[str, str | None, str, str | None]] = [
        (
            "SCH320",
            None,
            (
                f"uses the extension key{'s' if len(keys) > 1 else ''} {', '.join(keys)}:"
                " providers that implement only the core specification cannot run it"
            ),
            "the reference provider (`scheduled run`, `tick`) runs it; SPEC.md part 9",
        )
    ]
    proof = check_promise(job, start)
    if proof is not None and not proof.promise.kept:
        code = "SCH311" if proof.promise.never_fires else "SCH310"
        found.append((code, proof.key, describe_broken_promise(proof.promise), None))
    return found


class PromiseCheck(NamedTuple):
    """The key a broken promise is reported on, and the proof."""

    key: str
    promise: Promise


def check_promise(job: Job, start: datetime) -> PromiseCheck | None:
    """The proof that a job using cron, at, interval or timezone keeps `every`'s promise.

    None for a job whose schedule needs no proof (a slot or an `at` in UTC keep it by
    construction). Proofs are cached by what they depend on, so many jobs sharing one
    schedule cost one proof.
    """
    found = trigger(job)
    zone = job.timezone or ""
    if found.kind == "cron":
        return PromiseCheck("cron", _prove("cron", job.cron or "", job.every, zone, start))
    if found.kind == "interval":
        promise = _prove("interval", str(found.interval_ms), job.every, zone, start)
        if not promise.kept:  # the counterexample depends on the job's phase
            phase = str(phase_ms(job.id, found.interval_ms))
            promise = _prove("interval", f"{found.interval_ms}/{phase}", job.every, zone, start)
        return PromiseCheck("interval", promise)
    if not zone:
        return None
    if found.kind == "at":
        return PromiseCheck("at", _prove("at", job.at or "", job.every, zone, start))
    offset = job.offset()
    promise = _prove("slot", str(offset), job.every, zone, start)
    return PromiseCheck("timezone", promise)


@lru_cache(maxsize=1_024)
def _prove(kind: str, value: str, every: Cadence, zone: str, start: datetime) -> Promise:
    from scheduled_spec import promise  # noqa: PLC0415 - the proof engine, on first need

    tz = load_zone(zone) if zone else None
    if kind == "cron":
        return promise.prove_cron(value, every, start=start, tz=tz)
    if kind == "interval":
        ms, _, phase = value.partition("/")
        return promise.prove_interval(
            int(ms) / 1_000, every, start=start, phase=int(phase or 0) / 1_000, tz=tz
        )
    if kind == "at":
        return promise.prove_at(value, every, start=start, tz=tz)
    when = slot_at_time(every, int(value))
    proof = promise.prove_at(when, every, start=start, tz=tz)
    return proof._replace(subject=f"the slot ({describe_wall(when)})")


def slot_at_time(every: Cadence, offset: int) -> AtTime:
    """A slot offset as the wall time it names inside a local period."""
    days, rest = divmod(offset, 86_400)
    hour, rest = divmod(rest, 3_600)
    minute, second = divmod(rest, 60)
    day = days + 1 if every is Cadence.MONTH else days
    return AtTime(every, day, hour, minute, second)


_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def describe_wall(when: AtTime) -> str:
    """``at second 12``, ``at minute 15:12``, ``at 08:15:12``, ``on Monday at 08:15:12``."""
    clock = f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}"
    if when.every is Cadence.MINUTE:
        return f"at second {when.second}"
    if when.every is Cadence.HOUR:
        return f"at minute {when.minute:02d}:{when.second:02d}"
    if when.every is Cadence.DAY:
        return f"at {clock}"
    if when.every is Cadence.WEEK:
        return f"on {_WEEKDAY_NAMES[when.day]} at {clock}"
    return f"on day {when.day} at {clock}"
