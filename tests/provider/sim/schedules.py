"""When a job runs, restated from SPEC.md without scheduled_spec's own schedule code.

Instants are whole Unix milliseconds. A core job (SPEC.md 4, 5) runs at each period's
start plus its SHA-256 offset; an `interval = N` job (9.6) at ``phase + k * N``; a `cron`
job (9.4-9.5) where croniter, a second engine, places it. Each schedule also names the
ledger's identity of a run (5.5, 9.5.3, 9.6.3) and its row's `period_start` (10.17.1).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from croniter import croniter

PERIOD = {"minute": 60, "hour": 3_600, "day": 86_400}
_KEY_FORMAT = {"minute": "%Y-%m-%dT%H:%M", "hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d"}


@lru_cache(maxsize=4096)
def _digest(job_id: str) -> int:
    """SPEC.md 5.1 and 5.3: the first eight bytes of SHA-256 of the (unsalted) job ID."""
    return int.from_bytes(hashlib.sha256(job_id.encode("utf-8")).digest()[:8], "big")


@lru_cache(maxsize=1 << 16)
def _cron_next(expression: str, seconds: int) -> int:
    """The first minute croniter places strictly after `seconds` (Unix seconds)."""
    found = croniter(expression, datetime.fromtimestamp(seconds, timezone.utc))
    return int(found.get_next(float))


@lru_cache(maxsize=1 << 16)
def _cron_prev(expression: str, seconds: int) -> int:
    """The last minute croniter places strictly before `seconds` (Unix seconds)."""
    found = croniter(expression, datetime.fromtimestamp(seconds, timezone.utc))
    return int(found.get_prev(float))


def instant_key(ms: int) -> str:
    """RFC 3339 UTC with ``Z``, milliseconds only off the whole second (9.5.3, 9.6.3)."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1_000))
    return f"{text}.{ms % 1_000:03d}Z" if ms % 1_000 else f"{text}Z"


def parse_instant_key(key: str) -> int | None:
    """The instant (ms) an RFC 3339 period key names; None for a core period key."""
    if not key.endswith("Z"):
        return None
    parsed = datetime.fromisoformat(key[:-1] + "+00:00")
    return int(parsed.timestamp() * 1_000 + 0.5)


@dataclass(frozen=True)
class Schedule:
    """The runs of one job version: `every`, and `interval` (seconds) or `cron`, or neither."""

    job_id: str
    every: str
    interval: int | None = None
    cron: str | None = None

    @property
    def core(self) -> bool:
        return self.interval is None and self.cron is None

    @property
    def spacing(self) -> int:
        """Seconds between two runs, at least (a cron's, at most one minute apart here)."""
        if self.interval is not None:
            return self.interval
        return 60 if self.cron is not None else PERIOD[self.every]

    def _period_ms(self) -> int:
        return PERIOD[self.every] * 1_000

    def _offset_ms(self) -> int:
        return _digest(self.job_id) % PERIOD[self.every] * 1_000

    def _step_phase(self) -> tuple[int, int]:
        if self.interval is not None:
            step = self.interval * 1_000
            return step, _digest(self.job_id) % step  # 9.6.2
        return self._period_ms(), self._offset_ms()  # 5.3-5.4

    def first_at_or_after(self, ms: int) -> int:
        """The first run at or after `ms`."""
        if self.cron is not None:
            after = -(-ms // 1_000) - 1  # runs are whole minutes: ask per minute (cached)
            return _cron_next(self.cron, after - after % 60) * 1_000
        step, phase = self._step_phase()
        k = -(-(ms - phase) // step)
        return k * step + phase

    def last_at_or_before(self, ms: int) -> int:
        """The newest run at or before `ms`."""
        if self.cron is not None:
            before = ms // 1_000 + 1
            return _cron_prev(self.cron, -(-before // 60) * 60) * 1_000
        step, phase = self._step_phase()
        return (ms - phase) // step * step + phase

    def after(self, ms: int) -> int:
        """The first run strictly after `ms`."""
        return self.first_at_or_after(ms + 1)

    def is_run(self, ms: int) -> bool:
        return self.first_at_or_after(ms) == ms

    def every_start(self, ms: int) -> int:
        """Start (ms) of the period of `every` that holds `ms` (UTC, SPEC.md 4.1)."""
        period = self._period_ms()
        return ms - ms % period

    def row_start(self, ms: int) -> int:
        """The `period_start` (whole seconds) of the ledger row of the run at `ms`."""
        if self.core:
            return self.every_start(ms) // 1_000
        return ms // 1_000

    def key(self, ms: int) -> str:
        """The period key of the run at `ms` (SPEC.md 5.5; 9.5.3 and 9.6.3 for extensions)."""
        if self.core:
            return time.strftime(_KEY_FORMAT[self.every], time.gmtime(self.row_start(ms)))
        return instant_key(ms)

    def first_after_row(self, period_start: int) -> int:
        """The first run whose row's `period_start` is after `period_start`."""
        if self.core:
            return self.first_at_or_after((period_start + PERIOD[self.every]) * 1_000)
        return self.first_at_or_after((period_start + 1) * 1_000)

    def owns_gap(self, first_key: str, last_key: str) -> bool:
        """Whether a gap row with these keys may have been recorded for this schedule."""
        if self.core:
            return parse_instant_key(first_key) is None and len(first_key) == len(self.key(0))
        first, last = parse_instant_key(first_key), parse_instant_key(last_key)
        return first is not None and last is not None and self.is_run(first) and self.is_run(last)
