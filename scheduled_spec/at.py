"""The ``at`` extension: a fixed wall time inside each period instead of the hashed slot.

Grammar, by cadence: minute ``":SS"``; hour ``":MM"`` or ``":MM:SS"``; day ``"HH:MM"`` or
``"HH:MM:SS"``; week ``"mon HH:MM[:SS]"``; month ``"DD HH:MM[:SS]"`` with DD from 1 to 28.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import NamedTuple

from scheduled_spec.cadence import Cadence
from scheduled_spec.errors import ScheduledError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = r"(?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?"
_PATTERNS = {
    Cadence.MINUTE: (re.compile(r":(?P<s>\d{2})"), '":SS"'),
    Cadence.HOUR: (re.compile(r":(?P<m>\d{2})(?::(?P<s>\d{2}))?"), '":MM" or ":MM:SS"'),
    Cadence.DAY: (re.compile(_TIME), '"HH:MM" or "HH:MM:SS"'),
    Cadence.WEEK: (re.compile(r"(?P<w>[A-Za-z]{3}) " + _TIME), '"mon HH:MM" or "mon HH:MM:SS"'),
    Cadence.MONTH: (re.compile(r"(?P<d>\d{1,2}) " + _TIME), '"DD HH:MM" or "DD HH:MM:SS"'),
}


class AtSyntaxError(ScheduledError, ValueError):
    """An ``at`` value does not fit its cadence's grammar; ``expected`` shows the form."""

    def __init__(self, text: str, every: Cadence, reason: str, expected: str) -> None:
        self.text, self.every, self.reason, self.expected = text, every, reason, expected
        super().__init__(f'at: "{text}": {reason} (every = "{every.value}" expects {expected})')


class AtTime(NamedTuple):
    """A wall time inside a period: ``day`` is the weekday (0 = Monday) for a week, the
    day of the month (1-28) for a month, and 0 otherwise."""

    every: Cadence
    day: int
    hour: int
    minute: int
    second: int

    @property
    def offset(self) -> timedelta:
        """How far after the wall start of its period the run is due."""
        days = self.day - 1 if self.every is Cadence.MONTH else self.day
        return timedelta(days=days, hours=self.hour, minutes=self.minute, seconds=self.second)


def parse_at(every: Cadence | str, text: str) -> AtTime:
    """Parse an ``at`` value for cadence ``every``. Raises AtSyntaxError, ValueError."""
    cadence = Cadence(every)
    pattern, expected = _PATTERNS[cadence]
    match = pattern.fullmatch(text)
    if match is None:
        raise AtSyntaxError(text, cadence, "does not match the form", expected)
    parts = match.groupdict()
    hour, minute, second = (int(parts.get(k) or 0) for k in ("h", "m", "s"))
    if hour > 23 or minute > 59 or second > 59:
        raise AtSyntaxError(text, cadence, "is not a time of day", expected)
    day = 0
    if cadence is Cadence.WEEK:
        name = parts["w"].lower()
        if name not in WEEKDAYS:
            raise AtSyntaxError(text, cadence, f'"{parts["w"]}" is not a weekday', expected)
        day = WEEKDAYS.index(name)
    elif cadence is Cadence.MONTH:
        day = int(parts["d"])
        if not 1 <= day <= 28:
            reason = f"day {day} is not in 1-28 (every month has it)"
            raise AtSyntaxError(text, cadence, reason, expected)
    return AtTime(cadence, day, hour, minute, second)
