"""The SHA-256 slot rule (SPEC.md section 5): where inside its period a job runs."""

from __future__ import annotations

from hashlib import sha256

from scheduled_spec.cadence import PERIOD_SECONDS, Cadence


def slot_key(job_id: str, salt: str = "") -> bytes:
    """The bytes that are hashed: the job ID, or ``salt + NUL + job ID`` with a salt."""
    if salt:
        return salt.encode("utf-8") + b"\x00" + job_id.encode("utf-8")
    return job_id.encode("utf-8")


def slot_offset(job_id: str, every: Cadence | str, *, salt: str = "") -> int:
    """Seconds from the start of each period to the job's run, in ``[0, period seconds)``.

    ``int.from_bytes(sha256(key).digest()[:8], "big") % period_seconds``.
    Raises ValueError for an unknown cadence.
    """
    seconds = PERIOD_SECONDS.get(every)  # type: ignore[arg-type]  # a str finds its Cadence
    if seconds is None:
        seconds = PERIOD_SECONDS[Cadence(every)]  # raises ValueError for an unknown cadence
    digest = sha256(slot_key(job_id, salt)).digest()
    return int.from_bytes(digest[:8], "big") % seconds


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def slot_clock(offset: int) -> tuple[int, int, int, int]:
    """An offset as ``(days, hour, minute, second)`` from its period's start."""
    days, rest = divmod(offset, 86_400)
    hour, rest = divmod(rest, 3_600)
    return (days, hour, *divmod(rest, 60))


def describe_slot(every: Cadence | str, offset: int) -> str:
    """The slot in words: ``every day at 08:15:12 UTC``, ``every hour at minute 15:12``, ..."""
    cadence = Cadence(every)
    days, hour, minute, second = slot_clock(offset)
    clock = f"{hour:02d}:{minute:02d}:{second:02d}"
    if cadence is Cadence.MINUTE:
        return f"every minute at second {offset}"
    if cadence is Cadence.HOUR:
        return f"every hour at minute {offset // 60:02d}:{offset % 60:02d}"
    if cadence is Cadence.DAY:
        return f"every day at {clock} UTC"
    if cadence is Cadence.WEEK:
        return f"every week on {_WEEKDAYS[days]} at {clock} UTC"
    return f"every month on day {days + 1} at {clock} UTC"
