"""Stable issue codes, one line each, each tied to the SPEC.md section that defines it.

Codes never change meaning once released; a retired code is never reused.
"""

from __future__ import annotations

from typing import NamedTuple

from scheduled_spec.errors import Severity


class Code(NamedTuple):
    code: str
    severity: Severity
    section: str
    summary: str


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code("SCH001", _E, "3.1.1", "the file is not valid TOML"),
        Code("SCH002", _E, "3.1.1", "the file is not valid UTF-8"),
        Code("SCH003", _E, "3.1.2", "`tool` or `tool.scheduled` is not a table"),
        Code("SCH004", _I, "3.1.3", "there is no `[tool.scheduled]` table: nothing is scheduled"),
        Code("SCH005", _W, "3.1.4", "`[tool.scheduled]` is empty: no jobs are declared"),
        Code("SCH010", _E, "3.3.1", "a job is not a table"),
        Code("SCH011", _E, "3.2.1", "a job ID is empty"),
        Code("SCH012", _E, "3.2.1", "a job ID contains a control character"),
        Code("SCH013", _E, "3.2.1", "a job ID is longer than 128 characters"),
        Code("SCH014", _W, "3.2.2", "a job ID cannot be used as a name by common schedulers"),
        Code("SCH015", _W, "3.2.3", "two job IDs differ only in case or in `_` versus `-`"),
        Code("SCH016", _E, "3.3.2", "a job table lacks a required key"),
        Code("SCH017", _E, "3.3.3", "a job table has a key this specification does not define"),
        Code("SCH101", _E, "3.4.1", "`every` is not a string"),
        Code("SCH103", _E, "3.4.1", "`every` is not one of the five cadences"),
        Code("SCH104", _E, "3.4.2", "the provider does not support this cadence"),
        Code("SCH201", _E, "3.5.1", "`entrypoint` is not a string"),
        Code("SCH202", _E, "3.5.2", "`entrypoint` has no `:` between module and attribute"),
        Code("SCH203", _E, "3.5.2", "`entrypoint` has more than one `:`"),
        Code("SCH204", _E, "3.5.2", "`entrypoint` has an empty module or attribute part"),
        Code("SCH205", _E, "3.5.2", "a part of `entrypoint` is not a Python identifier"),
        Code("SCH206", _E, "3.5.2", "a part of `entrypoint` is a Python keyword"),
        Code("SCH210", _E, "3.6.2", "the entrypoint's module cannot be imported"),
        Code("SCH211", _E, "3.6.2", "the entrypoint's module has no such attribute"),
        Code("SCH212", _E, "3.6.2", "the entrypoint is not callable without arguments"),
        Code("SCH213", _E, "3.6.2", "importing the entrypoint did not finish in time"),
        Code("SCH300", _E, "9.1.2", "an extension key has the wrong TOML type"),
        Code("SCH301", _E, "9.2.1", "`at` does not fit the form of its cadence"),
        Code("SCH302", _E, "9.3.1", "`timezone` is not an IANA time zone name"),
        Code("SCH303", _E, "9.4.1", "`cron` does not follow the cron grammar"),
        Code("SCH304", _E, "9.6.1", "`interval` is below 0.1 s, not a duration, or not whole ms"),
        Code("SCH305", _E, "9.1.3", "a job has more than one of `at`, `cron`, `interval`"),
        Code("SCH306", _E, "9.7.1", "a run-policy value is out of range or not one of the choices"),
        Code("SCH310", _W, "9.8.6", "the schedule does not keep the promise of `every`"),
        Code("SCH311", _E, "9.8.8", "a cron expression can never fire"),
        Code("SCH320", _I, "9.1.4", "the job uses extensions: not portable to core-only providers"),
    )
}


def severity_of(code: str) -> Severity:
    """The severity a code always has."""
    return CODES[code].severity
