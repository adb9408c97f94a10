"""Test doubles for the provider: a clock tests move by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class FakeClock:
    """A `Clock` whose wall and monotonic time move only when told.

    `advance(s)` moves both (time passing); `jump_wall(s)` moves only the wall clock (an
    NTP step, a suspended laptop, an operator's mistake). `sleep(s)` is `advance(s)`.
    """

    def __init__(self, start: datetime | str = "2026-01-01T00:00:00+00:00") -> None:
        if isinstance(start, str):
            start = datetime.fromisoformat(start)
        self.wall = start.astimezone(timezone.utc)
        self.mono = 1_000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds

    def jump_wall(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)

    def set(self, when: datetime | str) -> None:
        """Move the wall clock to `when` (monotonic time moves forward by the difference)."""
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        delta = (when - self.wall).total_seconds()
        self.wall = when.astimezone(timezone.utc)
        self.mono += max(0.0, delta)

    def set_epoch(self, seconds: float) -> None:
        """Move the wall clock to Unix time `seconds` (see `set`)."""
        self.set(datetime.fromtimestamp(seconds, timezone.utc))
