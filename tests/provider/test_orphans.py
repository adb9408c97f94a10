"""No orphans (SPEC.md 10.8.5, invariant I7): when an attempt ends, nothing it started runs.

Real `scheduled run` processes and their real child processes. The jobs start helper
processes (in their process group, setsid'ed, double-forked, some ignoring SIGTERM; see
tests/provider/spawning.py) and write their pids down; the tests check those pids in /proc
when the attempt is recorded, however it ended: returned, raised, timed out, stopped at
shutdown, fenced, or with its provider killed.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from scheduled_spec.entrypoint import parse_entrypoint
from scheduled_spec.provider.ledger import State
from scheduled_spec.provider.runner import ChildRunner, RunContext, RunSpec
from tests.provider.helpers import Project, provider_process, set_clock, wait_for
from tests.provider.spawning import MODES, Spawner, make_spawner, reap_leftovers, running

T = 1_780_271_999  # Sunday 2026-05-31T23:59:59Z: the daily job's slot has passed
CLOCK = "SCHEDULED_CLOCK_FILE"
STUBBORN = tuple(f"{mode}-stubborn" for mode in MODES)


def _ledger(spawner: Spawner) -> Project:
    return Project(spawner.root, spawner.side, spawner.ledger)


def _states(spawner: Spawner) -> list[str]:
    return [row["state"] for row in _ledger(spawner).rows("1")]


def _clock(tmp_path: Path) -> dict[str, str]:
    clock = tmp_path / "clock"
    set_clock(clock, T)
    return {CLOCK: str(clock)}


@pytest.mark.parametrize(("ending", "state"), [("return", "succeeded"), ("raise", "failed")])
def test_processes_a_job_leaves_behind_are_gone_when_its_attempt_is_recorded(
    tmp_path: Path, ending: str, state: str
) -> None:
    spawner = make_spawner(tmp_path, ending)
    args = (str(spawner.root), "--attempts", "1")
    log = tmp_path / "run.log"
    with (
        reap_leftovers(spawner),
        provider_process(*args, env=_clock(tmp_path), log=log) as provider,
    ):
        wait_for(lambda: _states(spawner) == [state], what=f"the run {state}")
        assert spawner.helpers().keys() == set(MODES), "every helper started"
        assert spawner.alive() == {}
        assert not running(spawner.child())
        provider.send_signal(signal.SIGTERM)
        assert provider.wait(60) == 0, log.read_text()


@pytest.mark.parametrize("ending", ["hang", "stubborn"])
def test_a_timed_out_job_leaves_no_process_running(tmp_path: Path, ending: str) -> None:
    """`hang`: the child ends its helpers on the runner's SIGTERM (SIGKILL for those that
    ignore it); `stubborn`: the job ignores SIGTERM too, the runner SIGKILLs the whole tree."""
    spawner = make_spawner(tmp_path, ending, STUBBORN)
    args = (str(spawner.root), "--timeout", "8", "--kill-grace", "1", "--attempts", "1")
    log = tmp_path / "run.log"
    with (
        reap_leftovers(spawner),
        provider_process(*args, env=_clock(tmp_path), log=log) as provider,
    ):
        wait_for(lambda: _states(spawner) == ["timed_out"], what="the timeout")
        assert spawner.spawned(), "the helpers started within the timeout"
        assert spawner.alive() == {}
        assert not running(spawner.child())
        provider.send_signal(signal.SIGTERM)
        assert provider.wait(60) == 0, log.read_text()


@pytest.mark.parametrize("ending", ["hang", "stubborn"])
def test_a_provider_stopped_mid_run_leaves_no_process_running(tmp_path: Path, ending: str) -> None:
    spawner = make_spawner(tmp_path, ending)
    args = (str(spawner.root), "--shutdown-grace", "0", "--kill-grace", "1")
    log = tmp_path / "run.log"
    with (
        reap_leftovers(spawner),
        provider_process(*args, env=_clock(tmp_path), log=log) as provider,
    ):
        wait_for(spawner.spawned, what="the helpers")
        provider.send_signal(signal.SIGTERM)
        assert provider.wait(60) == 0, log.read_text()
        assert _states(spawner) == ["abandoned"]
        assert spawner.alive() == {}
        assert not running(spawner.child())


def test_a_provider_killed_mid_run_leaves_no_process_running(tmp_path: Path) -> None:
    spawner = make_spawner(tmp_path, "hang")
    log = tmp_path / "run.log"
    with (
        reap_leftovers(spawner),
        provider_process(str(spawner.root), env=_clock(tmp_path), log=log) as provider,
    ):
        wait_for(spawner.spawned, what="the helpers")
        child = spawner.child()
        provider.send_signal(signal.SIGKILL)
        provider.wait()
        wait_for(lambda: not running(child), what="the child to stop")
        wait_for(lambda: not spawner.alive(), what=f"the helpers to stop: {spawner.alive()}")


def test_a_child_fencing_itself_leaves_no_process_and_its_run_is_abandoned_then_rerun(
    tmp_path: Path,
) -> None:
    """The provider is paused (SIGSTOP) past its child's fence: the child stops itself and
    its helpers while its provider cannot; resumed, the provider records the attempt
    abandoned, not failed (one attempt allowed), and runs the period again."""
    spawner = make_spawner(tmp_path, "first-hangs")
    args = (str(spawner.root), "--lease", "12", "--attempts", "1")
    log = tmp_path / "run.log"
    with (
        reap_leftovers(spawner),
        provider_process(*args, env=_clock(tmp_path), log=log) as provider,
    ):
        wait_for(spawner.spawned, what="the helpers")
        child = spawner.child()
        provider.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: not running(child), what="the child to fence itself")
            assert spawner.alive() == {}
        finally:
            provider.send_signal(signal.SIGCONT)
        wait_for(lambda: _states(spawner) == ["succeeded"], what="the re-run")
        provider.send_signal(signal.SIGTERM)
        assert provider.wait(60) == 0, log.read_text()
    assert [line.split()[0] for line in spawner.lines()] == ["start", "spawned", "start", "end"]
    ((run_id,),) = _ledger(spawner).query("SELECT run_id FROM runs")
    attempts = _ledger(spawner).query(
        "SELECT fence, outcome, error FROM attempts WHERE run_id = ? ORDER BY fence", run_id
    )
    assert [a[1] for a in attempts] == ["abandoned", "succeeded"], attempts
    assert "lease" in attempts[0][2]


def test_a_child_whose_lease_is_not_renewed_is_recorded_abandoned_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    """The runner's view of a child that fenced itself: abandoned (to be run again), with
    why, not "killed by SIGKILL" (failed)."""
    spawner = make_spawner(tmp_path, "hang", package="fenced_spawner")
    context = RunContext("job", "2026-05-31", "2026-05-31T08:00:00Z", 1, "r1", 1)
    entrypoint = parse_entrypoint("fenced_spawner.jobs:job")
    spec = RunSpec(entrypoint, context, spawner.root, 600, 1, time.time(), 0.0, 60.0)
    with reap_leftovers(spawner):
        handle = ChildRunner().start(spec, lambda: None)

        def spawned() -> bool:
            handle.renew(60.0)
            return spawner.spawned()

        wait_for(spawned, what="the helpers")
        handle.renew(0.1)  # the last renewal: the child fences itself 0.1 s later
        wait_for(handle.poll, what="the attempt to end")
        result = handle.poll()
        assert result is not None
        assert result.outcome is State.ABANDONED, result
        assert result.error == "stopped by its child: its lease was not renewed in time"
        assert spawner.alive() == {}
        assert not running(spawner.child())
