"""The due queue: heap order, the claim-ahead lead, and the period boundary."""

from __future__ import annotations

from scheduled_spec import load
from scheduled_spec.provider.due import DueQueue
from scheduled_spec.slots import slot_offset

T = 1_780_271_999  # 2026-05-31T23:59:59Z: the day job's slot today has passed
PROJECT = """
[tool.scheduled.daily]
every = "day"
entrypoint = "app:run"
[tool.scheduled.minutely]
every = "minute"
entrypoint = "app:run"
"""


def test_a_lead_across_midnight_still_runs_todays_period() -> None:
    due = DueQueue(load(PROJECT).jobs)
    due.load({}, T)
    found = {s.job.id: d.run for s, d in due.pop_due(T, lead=1)}
    assert found["daily"][0].key == "2026-05-31"


def test_a_slot_inside_the_lead_is_planned_as_of_its_slot() -> None:
    due = DueQueue(load(PROJECT).jobs)
    offset = slot_offset("minutely", "minute")
    start = T + 1  # a minute boundary
    due.load({}, start + offset - 1)
    assert not [s for s, _ in due.pop_due(start + offset - 1) if s.job.id == "minutely"]
    ahead = {s.job.id: d.run for s, d in due.pop_due(start + offset - 1, lead=1)}
    assert [d.start for d in ahead["minutely"]] == [start]
    assert ahead["minutely"][0].at == start + offset
    assert due.pop_due(start + offset) == []  # already handled: nothing twice
