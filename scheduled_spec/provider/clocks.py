"""Clocks for the provider besides `SystemClock`: a fixed instant and a file (test aids).

`FixedClock` serves ``scheduled tick --now``. `FileClock` reads an RFC 3339 instant from a
file that a test or a demo rewrites to move time for several real provider processes at
once (``SCHEDULED_CLOCK_FILE``); production uses `SystemClock`.

Both can `wait` on a `threading.Event` so the provider wakes when a child ends.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from scheduled_spec.clock import Clock, SystemClock


def parse_rfc3339(text: str) -> datetime:
    """``2026-11-24T10:00:00Z`` (or with an offset) as an aware UTC datetime.

    Raises ValueError for anything else, including an instant without a time zone.
    """
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return parsed.astimezone(timezone.utc)


class WaitingClock(Clock, Protocol):
    """A clock that can also wait for an event (returns True when the event is set)."""

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait up to `seconds` or until `event` is set."""
        ...


def wait(clock: Clock, event: threading.Event, seconds: float) -> bool:
    """Wait on `clock` for up to `seconds`, waking early when `event` is set if it can."""
    waiter = getattr(clock, "wait", None)
    if waiter is not None:
        return bool(waiter(event, seconds))
    if isinstance(clock, SystemClock):
        return event.wait(max(0.0, seconds))
    clock.sleep(seconds)
    return event.is_set()


class FixedClock:
    """Always the same instant; waits in real time (``tick --now``)."""

    def __init__(self, instant: datetime) -> None:
        self.instant = instant.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self.instant

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))


class FileClock:
    """The instant written in a file (a testing and demo aid, never for production).

    `wait` returns early when the file changes, so rewriting it wakes the provider.
    Raises ValueError from `now` when the file does not hold an RFC 3339 instant.
    """

    POLL = 0.01

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def now(self) -> datetime:
        return parse_rfc3339(self.path.read_text(encoding="utf-8"))

    def _stamp(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return 0

    def sleep(self, seconds: float) -> None:
        self.wait(threading.Event(), seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        start, end = self._stamp(), time.monotonic() + max(0.0, seconds)
        while time.monotonic() < end:
            if event.wait(self.POLL):
                return True
            if self._stamp() != start:
                return False
        return event.is_set()
