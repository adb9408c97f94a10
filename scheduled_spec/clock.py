"""The Clock seam: the provider asks it for the time; the core never does."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    """What the provider needs of time: the UTC wall clock, and a way to wait."""

    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait about `seconds`; may return early."""
        ...


class SystemClock:
    """The real clock: ``datetime.now(timezone.utc)`` and ``time.sleep``."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))
