"""Signals at the edges of a provider's life (SPEC.md 10.8.5, 10.13): real processes.

A stop (SIGTERM, SIGINT) is handled from the first moment of `scheduled run`, before the
ledger is open; a child never starts its job once its provider is gone; `run-once` stopped
by SIGTERM records its run abandoned and leaves nothing running.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.provider.helpers import (
    Project,
    make_project,
    provider_process,
    rfc3339,
    scheduled,
    set_clock,
    wait_for,
)
from tests.provider.spawning import make_spawner, processes_under, reap_leftovers, running

T = 1_780_271_999  # Sunday 2026-05-31T23:59:59Z: the daily job's slot has passed
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nothing"  # connection refused


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_before_the_provider_started_exits_0_having_run_nothing(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """`run` waits for an unreachable ledger at start (SPEC.md 10.18.3); a stop then ends it."""
    project = make_project(tmp_path, {"job": ("day", "ok")})
    log = tmp_path / "run.log"
    with provider_process(str(project.root), "--ledger", UNREACHABLE, env={}, log=log) as provider:
        wait_for(lambda: "ledger unreachable at start" in log.read_text(), what="the retries")
        provider.send_signal(sig)
        assert provider.wait(60) == 0, log.read_text()
    text = log.read_text()
    assert "stopped before the provider started" in text
    assert "Traceback" not in text
    assert project.starts("job") == []


@pytest.mark.parametrize("moment", ["ledger-created", "provider-started"])
def test_sigterm_during_start_up_exits_0_and_leaves_no_run_running(
    tmp_path: Path, moment: str
) -> None:
    """A stop while the ledger is being opened or created, or just as the provider starts."""
    project = make_project(tmp_path, {"job": ("day", "ok")})
    clock, log = tmp_path / "clock", tmp_path / "run.log"
    set_clock(clock, T)

    def reached() -> bool:
        if moment == "ledger-created":
            return project.ledger.parent.exists()
        return "provider started" in log.read_text()

    env = {"SCHEDULED_CLOCK_FILE": str(clock)}
    with provider_process(str(project.root), env=env, log=log) as provider:
        wait_for(reached, what=moment)
        provider.send_signal(signal.SIGTERM)
        assert provider.wait(60) == 0, log.read_text()
    assert project.rows("state = 'running'") == []
    again = scheduled("tick", str(project.root), "--now", rfc3339(T))
    assert again.returncode == 0, again.stderr
    assert len(project.ends("job")) == 1
    assert [r["state"] for r in project.rows("1")] == ["succeeded"]


@pytest.mark.parametrize("command", ["tick", "run-once"])
def test_a_child_never_starts_its_job_once_its_provider_is_gone(
    tmp_path: Path, command: str
) -> None:
    """The provider dies (SIGKILL, by a failpoint) right after starting the child process."""
    project = make_project(tmp_path, {"job": ("day", "ok")})
    root = str(project.root)
    args = ("tick", root, "--now", rfc3339(T)) if command == "tick" else ("run-once", "job", root)
    result = scheduled(*args, env={"SCHEDULED_FAILPOINT": "after-child-start"})
    assert result.returncode == -signal.SIGKILL, result.stderr
    wait_for(lambda: not processes_under(project.root), what="the child to exit")
    assert project.lines("job") == []


def test_sigterm_to_run_once_records_its_run_abandoned_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    spawner = make_spawner(tmp_path, "hang")
    log = tmp_path / "run-once.log"
    with reap_leftovers(spawner), log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "scheduled_spec", "run-once", "job", str(spawner.root)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(spawner.spawned, what="the helpers")
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 1, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        rows = Project(spawner.root, spawner.side, spawner.ledger).rows("1")
        assert [(r["kind"], r["state"]) for r in rows] == [("manual", "abandoned")]
        assert spawner.alive() == {}
        assert not running(spawner.child())
