"""The provider's loop in-process: overlap, retries inside the period, lost fences.

A `FakeClock`, the inline runner and a real SQLite file; jobs that wait on a gate the
test opens.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from scheduled_spec.cadence import Cadence, period_key
from scheduled_spec.loader import load
from scheduled_spec.provider.config import ProviderConfig
from scheduled_spec.provider.inline import InlineRunner
from scheduled_spec.provider.ledger import (
    Attempt,
    Claim,
    ClaimRequest,
    State,
    open_ledger,
)
from scheduled_spec.provider.loop import Provider
from scheduled_spec.provider.owner import Owner
from scheduled_spec.slots import slot_offset
from tests.provider.fakes import FakeClock
from tests.provider.helpers import Project, make_project

MINUTE = 1_780_271_940  # 2026-05-31T23:59:00Z


def provider(project: Project, clock: FakeClock, **settings: object) -> Provider:
    config = ProviderConfig(retention_days=1e6, **settings)  # type: ignore[arg-type]
    ledger = open_ledger(f"{project.url}?synchronous=normal", clock=clock)
    return Provider(
        load(project.root), ledger, InlineRunner(4), clock, config, monotonic=clock.monotonic
    )


def until(
    condition: Callable[[], object], provider: Provider, clock: FakeClock | None = None
) -> None:
    """Step until `condition`; with `clock`, fake time moves 10 ms per step (backoff)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)
        if clock is not None:
            clock.advance(0.01)
        provider.step()


def jobs_module(package: str) -> ModuleType:
    return importlib.import_module(f"{package}.jobs")


def at_slot(clock: FakeClock, job_id: str, minute: int) -> None:
    clock.set_epoch(MINUTE + 60 * minute + slot_offset(job_id, "minute"))


def test_a_period_due_during_a_run_waits_and_a_third_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = make_project(tmp_path, {"job": ("minute", "gated")}, package="loop_overlap")
    clock = FakeClock()
    at_slot(clock, "job", 0)
    p = provider(project, clock)
    p.step()
    until(lambda: project.starts("job"), p)
    with caplog.at_level(logging.INFO):
        at_slot(clock, "job", 1)
        p.step()
        at_slot(clock, "job", 2)
        p.step()
    assert "waits for the previous run" in caplog.text
    keys = [period_key(Cadence.MINUTE, MINUTE + 60 * i) for i in range(3)]
    assert [r["period_key"] for r in project.rows("kind = 'skipped'")] == [keys[2]]
    jobs_module("loop_overlap").GATE.set()
    until(lambda: len(project.ends("job")) == 2 and not p.busy, p)
    lines = [line.split()[:2] for line in project.lines("job")]
    assert lines == [["start", keys[0]], ["end", keys[0]], ["start", keys[1]], ["end", keys[1]]]


def test_failures_are_retried_inside_the_period_only(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"job": ("minute", "raise")}, package="loop_retry")
    clock = FakeClock()
    at_slot(clock, "job", 0)
    p = provider(project, clock, attempts=3, backoff=0.001)
    p.step()
    until(lambda: not p.busy, p, clock)
    (row,) = project.rows("1")
    assert (row["state"], row["attempt"], row["error"]) == ("failed", 3, "ValueError: boom")
    slow = provider(project, clock, attempts=3, backoff=120.0)  # a retry would leave the minute
    at_slot(clock, "job", 1)
    slow.step()
    until(lambda: not slow.busy, slow, clock)
    assert [r["attempt"] for r in project.rows("period_start = ?", MINUTE + 60)] == [1]


def test_a_provider_whose_lease_was_taken_over_records_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = make_project(tmp_path, {"job": ("minute", "gated")}, package="loop_fence")
    clock = FakeClock()
    at_slot(clock, "job", 0)
    first = provider(project, clock, lease=30.0)
    first.step()
    until(lambda: project.starts("job"), first)
    clock.advance(31)  # the first provider missed its heartbeats: its lease expired
    second = provider(project, clock, lease=30.0)
    second.step()
    until(lambda: len(project.starts("job")) == 2, second)
    with caplog.at_level(logging.ERROR):
        first.step()
    assert "lost the claim" in caplog.text
    assert not first.busy
    jobs_module("loop_fence").GATE.set()
    until(lambda: not second.busy, second)
    (row,) = project.rows("1")
    assert (row["state"], row["fence"]) == ("succeeded", 2)
    assert [a for (a,) in project.query("SELECT fence FROM attempts")] == [2]


def test_a_run_waiting_for_room_lets_the_loop_sleep(tmp_path: Path) -> None:
    """A taken-over run with no room left waits for a running one to end, without spinning."""
    project = make_project(
        tmp_path, {"busy": ("minute", "gated"), "other": ("day", "ok")}, package="loop_room"
    )
    clock = FakeClock()
    at_slot(clock, "busy", 0)
    p = provider(project, clock, max_parallel=1)
    p.step()
    until(lambda: project.starts("busy"), p)
    start = MINUTE - MINUTE % 86_400
    left = ClaimRequest("other", "day", period_key(Cadence.DAY, start), start, start)
    elsewhere = open_ledger(f"{project.url}?synchronous=normal", clock=clock)
    (claim,) = elsewhere.claim([left], Owner("elsewhere", 1, ""), 30.0)
    assert isinstance(claim, Claim)
    elsewhere.finish(claim, Attempt(1, State.ABANDONED, 0.0, 0.0, "stopped at shutdown"))
    clock.advance(31)  # past the next take-over scan
    p.step()
    assert project.starts("other") == [], "no room: busy holds the only one"
    assert p.next_wake() > 1.0
    jobs_module("loop_room").GATE.set()
    until(lambda: project.ends("other") and not p.busy, p)


def test_a_manual_run_that_cannot_start_is_recorded_failed(tmp_path: Path) -> None:
    """A manual row is never taken over: one whose child cannot start must not stay running."""
    from scheduled_spec.provider.manual import run_once  # noqa: PLC0415
    from scheduled_spec.provider.runner import ChildRunner  # noqa: PLC0415

    project = make_project(tmp_path / "gone", {"job": ("day", "ok")}, package="loop_nostart")
    loaded = load(project.root)
    clock = FakeClock()
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", clock=clock)
    shutil.rmtree(project.root)  # the child's working directory is gone
    with pytest.raises(OSError, match="gone"):
        run_once(loaded, "job", ledger, ChildRunner(), clock)
    (entry,) = ledger.history()
    assert entry.run.state is State.FAILED
    assert entry.run.error is not None
    assert entry.run.error.startswith("could not start:")
