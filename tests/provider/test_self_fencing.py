"""Self-fencing (SPEC.md 10.4.5): a provider that cannot renew a lease stops the run in time.

In-process: a `FakeClock`, the inline runner, a real SQLite ledger behind a switch that
makes it unreachable. Child processes: the real child runner, whose child kills its own
process group when its lease is not renewed. Real PostgreSQL replicas, paused and cut off,
are in test_replicas_postgres.py.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from scheduled_spec.entrypoint import parse_entrypoint
from scheduled_spec.loader import load
from scheduled_spec.provider.config import ProviderConfig
from scheduled_spec.provider.inline import InlineRunner
from scheduled_spec.provider.leases import CHILD_FENCE_AT, FENCE_AT
from scheduled_spec.provider.ledger import Attempt, Ledger, LedgerError, State, open_ledger
from scheduled_spec.provider.loop import Provider
from scheduled_spec.provider.owner import Owner
from scheduled_spec.provider.runner import ChildRunner, RunContext, RunSpec
from scheduled_spec.slots import slot_offset
from tests.provider.fakes import FakeClock
from tests.provider.helpers import make_project

DAY = 1_780_185_600  # 2026-05-31T00:00:00Z
LEASE = 30.0


class Switch:
    """A real ledger that raises LedgerError, as an unreachable one does, while `down`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.down = False
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.ledger, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                self.calls += 1
                raise LedgerError("ledger: cannot connect: connection refused")
            return target(*args, **kwargs)

        return call


def _until(condition: Callable[[], object], step: Callable[[], None]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out: {condition}"
        time.sleep(0.002)
        step()


def _step(provider: Provider) -> None:
    with contextlib.suppress(LedgerError):  # `run` catches it the same way
        provider.step()


def test_a_provider_cut_off_from_its_ledger_stops_the_run_and_claims_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = make_project(
        tmp_path, {"job": ("day", "gated"), "later": ("day", "ok")}, package="fence_cut"
    )
    clock = FakeClock()
    clock.set_epoch(DAY + slot_offset("job", "day"))
    switch = Switch(open_ledger(f"{project.url}?synchronous=normal", clock=clock))
    config = ProviderConfig(lease=LEASE, retention_days=1e6)
    provider = Provider(
        load(project.root),
        cast(Ledger, switch),
        InlineRunner(4),  # a "gated" thread cannot be stopped: room for its re-run
        clock,
        config,
        monotonic=clock.monotonic,
    )
    provider.step()
    # "later" ends at once; its outcome recorded, only the gated run is left to renew.
    _until(
        lambda: project.starts("job") and project.rows("job_id = 'later' AND state = 'succeeded'"),
        provider.step,
    )
    before = project.rows("1")
    switch.down = True
    with caplog.at_level(logging.WARNING):
        clock.advance(LEASE / 3)
        _step(provider)  # the heartbeat fails: claiming stops
        assert "ledger unreachable" in caplog.text
        # The next day's periods are due, but nothing may be claimed.
        clock.jump_wall(DAY + 2 * 86_400 - 100 - clock.now().timestamp())
        clock.advance(LEASE * (FENCE_AT - 1 / 3))
        _step(provider)
        assert "not renewed for 20.0 s: stopping the run" in caplog.text
        assert provider.next_wake() > 0, "no busy loop while the ledger is down"
        calls = switch.calls
        for _ in range(20):  # capped backoff: the ledger is retried, not hammered
            clock.advance(0.05)
            _step(provider)
        assert switch.calls - calls <= 3
        assert [dict(r) for r in project.rows("1")] == [dict(r) for r in before]
        switch.down = False
        _until(
            lambda: len(project.ends("later")) == 2,
            lambda: _later(clock, provider),
        )
    assert "claiming resumes" in caplog.text
    (job,) = project.rows("job_id = 'job' AND period_key = '2026-05-31'")
    assert (job["state"], job["fence"]) == ("running", 2), "re-run after the ledger came back"
    assert project.query(
        "SELECT fence, outcome, error FROM attempts WHERE run_id = ?", job["run_id"]
    ) == [(1, "abandoned", "stopped: lease not renewed for 20.0 s (the thread keeps running)")]
    importlib.import_module("fence_cut.jobs").GATE.set()


def _later(clock: FakeClock, provider: Provider) -> None:
    clock.advance(0.05)
    provider.step()


def _spec(tmp_path: Path, kind: str, fence_after: float) -> RunSpec:
    project = make_project(tmp_path, {"job": ("day", kind)}, package=f"fence_{kind}")
    context = RunContext("job", "2026-05-31", "2026-05-31T08:00:00Z", 1, "r1", 1)
    entrypoint = parse_entrypoint(f"fence_{kind}.jobs:job")
    return RunSpec(entrypoint, context, project.root, 60, 1, time.time(), 0.0, fence_after)


def _wait(handle: Any) -> Attempt:
    deadline = time.monotonic() + 60
    while (result := handle.poll()) is None:
        assert time.monotonic() < deadline, "the attempt never ended"
        time.sleep(0.02)
    return cast(Attempt, result)


def test_a_child_whose_lease_is_not_renewed_kills_its_own_group(tmp_path: Path) -> None:
    handle = ChildRunner().start(_spec(tmp_path, "hang", 0.5), lambda: None)
    result = _wait(handle)
    # Stopped for its provider's sake, not by its own fault: abandoned, to be run again.
    assert result.outcome is State.ABANDONED
    assert result.error == "stopped by its child: its lease was not renewed in time"
    assert "its lease was not renewed in time" in result.output


def test_renewals_keep_a_child_running(tmp_path: Path) -> None:
    handle = ChildRunner().start(_spec(tmp_path, "sleep3", 2.0), lambda: None)
    while handle.poll() is None:
        handle.renew(2.0)
        time.sleep(0.1)
    result = _wait(handle)
    assert result.outcome is State.SUCCEEDED, result.output


def test_the_provider_stops_a_run_before_its_child_would_and_both_before_the_lease() -> None:
    assert 0 < FENCE_AT < CHILD_FENCE_AT < 1


def test_a_step_of_the_wall_clock_renews_the_leases_of_a_live_provider(tmp_path: Path) -> None:
    """A SQLite ledger keeps leases on the host's wall clock: a step forward brings their
    expiry nearer for every provider. A live provider renews at once, and one that notices
    the step takes no running run over for a lease, so that none is taken over while its
    attempt runs (the simulation found the overlap)."""
    project = make_project(tmp_path, {"job": ("day", "gated")}, package="fence_step")
    clock = FakeClock()
    clock.set_epoch(DAY + slot_offset("job", "day"))
    config = ProviderConfig(lease=LEASE, retention_days=1e6)

    def provider(name: str) -> Provider:
        made = Provider(
            load(project.root),
            open_ledger(project.url, clock=clock),
            InlineRunner(2),
            clock,
            config,
            monotonic=clock.monotonic,
        )
        made.owner = Owner(f"host-{name}", 1, "", name)
        return made

    holder, other = provider("a"), provider("b")
    _until(lambda: project.starts("job"), holder.step)
    other.step()
    clock.jump_wall(LEASE * 2)  # an NTP step past the whole lease; monotonic time stands
    clock.advance(LEASE / 3 + 1)  # and the other's take-over scan is due
    other.step()  # it notices the step first: it takes nothing over yet
    holder.step()  # and the holder renews
    for _ in range(20):
        other.step()
        holder.step()
    assert project.starts("job") == ["2026-05-31"], "taken over while it ran"
    importlib.import_module("fence_step.jobs").GATE.set()
    _until(lambda: not holder.busy, holder.step)
    ((state, fence),) = project.query("SELECT state, fence FROM runs")
    assert (state, fence) == ("succeeded", 1)


def test_a_child_stops_when_the_wall_clock_passes_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The child's own fence watches both clocks (SPEC.md 10.4.5): a step of the wall clock
    forward, while its provider is paused and sends nothing, stops it before the lease can
    expire on a SQLite ledger."""
    from scheduled_spec.provider import child  # noqa: PLC0415

    read, write = os.pipe()
    stopped = threading.Event()
    attempt = child._Attempt(write, 0, 1.0)
    monkeypatch.setattr(attempt, "abandon", lambda why: stopped.set())
    start, stepped = time.time(), threading.Event()
    monkeypatch.setattr(time, "time", lambda: start + (1_000.0 if stepped.is_set() else 0.0))
    attempt.watch(read, 600.0)  # ten minutes on the monotonic clock
    assert not stopped.wait(1.5)
    stepped.set()
    assert stopped.wait(10), "the child did not notice the wall clock passing its deadline"
    os.close(write)
    os.close(read)
