"""The host's wall clock over simulated time: simulated time plus an offset that steps.

A run is due on the wall clock, not in simulated time: after a step forward the runs it
jumped over are due at once; after a step back, a run the clock passed before is due again
only once the clock passes it again (SPEC.md 10.5.5).
"""

from __future__ import annotations

INF = float("inf")
JUMP_TOLERANCE = 5.0  # seconds: a step of the wall clock a provider notices (SPEC.md 10.3)


class HostClock:
    """The wall clock's offset from simulated time, segment by segment."""

    def __init__(self, start: float) -> None:
        self.segments: list[tuple[float, float]] = [(start, 0.0)]  # (from when, offset)

    def stepped(self, now: float, offset: float) -> None:
        """From `now` on the wall clock is simulated time plus `offset`."""
        self.segments.append((now, offset))

    def max_wall(self, now: float) -> float:
        """The newest instant the wall clock has shown up to `now`."""
        reached = -INF
        for i, (_, offset) in enumerate(self.segments):
            end = self.segments[i + 1][0] if i + 1 < len(self.segments) else now
            reached = max(reached, end + offset)
        return reached

    def due_at(self, ms: int, now: float) -> float:
        """Since when (simulated time) the wall clock has been at or past `ms` (Unix ms)
        without going back before it; INF while, at `now`, it is before `ms`."""
        wall, segments = ms / 1_000, self.segments
        for i in range(len(segments) - 1, -1, -1):
            start, offset = segments[i]
            end = segments[i + 1][0] if i + 1 < len(segments) else now
            if end + offset < wall:  # at this segment's end the clock was before `ms`
                return INF if i == len(segments) - 1 else segments[i + 1][0]
            if start + offset < wall:  # the clock reached `ms` inside this segment
                return wall - offset
        return segments[0][0]

    def forward_steps(self) -> list[float]:
        """When the wall clock stepped forward by more than a provider notices."""
        return [
            at
            for (at, offset), (_, before) in zip(self.segments[1:], self.segments, strict=False)
            if offset - before > JUMP_TOLERANCE
        ]
