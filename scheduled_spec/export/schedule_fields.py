"""A job's slot as calendar fields, which every cron-like target is built from."""

from __future__ import annotations

from typing import NamedTuple

from scheduled_spec.cadence import Cadence
from scheduled_spec.models import Job
from scheduled_spec.slots import slot_clock

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class SlotFields(NamedTuple):
    """Where the slot falls: None for "every" in that field. `weekday` is 0 for Monday."""

    every: Cadence
    second: int
    minute: int | None
    hour: int | None
    weekday: int | None
    day: int | None


def slot_fields(job: Job, salt: str = "") -> SlotFields:
    """The calendar fields of `job`'s slot (UTC)."""
    offset = job.offset(salt)
    days, hour, minute, second = slot_clock(offset)
    every = job.every
    if every is Cadence.MINUTE:
        return SlotFields(every, offset, None, None, None, None)
    if every is Cadence.HOUR:
        return SlotFields(every, second, minute, None, None, None)
    if every is Cadence.DAY:
        return SlotFields(every, second, minute, hour, None, None)
    if every is Cadence.WEEK:
        return SlotFields(every, second, minute, hour, days, None)
    return SlotFields(every, second, minute, hour, None, days + 1)


def cron_line(fields: SlotFields) -> str:
    """The five-field cron expression (UTC, minute precision: the seconds are dropped)."""

    def part(value: int | None) -> str:
        return "*" if value is None else str(value)

    weekday = "*" if fields.weekday is None else str((fields.weekday + 1) % 7)  # cron: 0 = Sunday
    return f"{part(fields.minute)} {part(fields.hour)} {part(fields.day)} * {weekday}"


def seconds_note(fields_by_job: dict[str, SlotFields]) -> str | None:
    """A comment line saying which jobs lose their slot's seconds, or None if none do."""
    dropped = [job_id for job_id, f in fields_by_job.items() if f.second]
    if not dropped:
        return None
    return (
        "This scheduler has minute precision: the seconds of each slot are dropped,\n"
        "# so jobs start up to 59 s before the instants `scheduled show` lists."
    )
