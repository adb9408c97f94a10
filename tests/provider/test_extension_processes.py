"""Extension schedules through the real `scheduled` command and real provider processes.

The heartbeat test runs on the real clock with two providers sharing its ledger: no tick is
lost and none runs twice (SPEC.md 10.17.6); its rate on this machine is a figure, not an
assertion. Counts come from the side files the jobs append to, with the expected ticks from
the schedule model of tests/provider/chaos.py, not from the provider.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from tests.provider.chaos import ALLOWED_STATES, key_instant, ledger_records, run_instants
from tests.provider.chaos import Job as ChaosJob
from tests.provider.conftest import Figure
from tests.provider.helpers import provider_process, scheduled, set_clock, wait_for
from tests.provider.test_extension_runs import extension_project

UTC = timezone.utc


def _started(log: Path) -> bool:
    return "provider started" in log.read_text()


def _instant(key: str) -> float:
    return datetime.fromisoformat(key.replace("Z", "+00:00")).timestamp()


def test_tick_runs_a_cron_job_once_and_history_shows_its_instant(tmp_path: Path) -> None:
    project = extension_project(tmp_path, {"report": ("day", "ok", {"cron": "0 9 * * *"})}, "app")
    root = str(project.root)
    dry = scheduled("tick", root, "--now", "2026-11-24T09:00:30Z", "--dry-run")
    assert dry.stdout.split() == ["report", "2026-11-24T09:00:00Z", "due"]
    first = scheduled("tick", root, "--now", "2026-11-24T09:00:30Z")
    assert first.returncode == 0, first.stderr
    again = scheduled("tick", root, "--now", "2026-11-24T09:05:00Z")
    assert again.returncode == 0, again.stderr
    assert project.ends("report") == ["2026-11-24T09:00:00Z"]
    history = json.loads(scheduled("history", root, "--format", "json").stdout)
    assert [(h["job"], h["period"], h["outcome"]) for h in history] == [
        ("report", "2026-11-24T09:00:00Z", "succeeded")
    ]


def test_immediately_runs_once_when_run_starts_and_counts_for_no_period(tmp_path: Path) -> None:
    project = extension_project(
        tmp_path,
        {"warm": ("month", "ok", {"at": "28 23:00", "immediately": True})},
        "app",
    )
    clock = tmp_path / "clock"
    set_clock(clock, datetime(2026, 11, 24, 12, tzinfo=UTC))  # the month's run is days away
    env = {"SCHEDULED_CLOCK_FILE": str(clock)}
    with provider_process(str(project.root), env=env, log=tmp_path / "run.log") as process:
        wait_for(lambda: project.ends("warm"), what="the run at start")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert [(r["kind"], r["state"]) for r in project.rows("1")] == [("manual", "succeeded")]
    assert "immediately" in (tmp_path / "run.log").read_text()
    tick = scheduled("tick", str(project.root), "--now", "2026-11-24T12:00:05Z")
    assert tick.returncode == 0
    assert len(project.ends("warm")) == 1, "tick is no provider start: no extra run"


def test_a_heartbeat_keeps_its_rate_and_two_providers_run_each_tick_once(
    tmp_path: Path, figure: Figure
) -> None:
    """SPEC 10.17.6: ticks of `interval = 1` and `interval = 0.5`, two providers on one ledger.

    Keeping its rate means losing no tick: every tick from the moment both providers run to
    their clean stop ran (or, under load, was recorded skipped or missed, as its policy
    allows), and none ran twice. How many ticks a wall-clock minute holds is a measurement
    of this machine: it is a figure here, and a benchmark in bench/, never an assertion.
    """
    jobs: dict[str, tuple[str, str, Mapping[str, object]]] = {
        "beat": ("minute", "ok", {"interval": 1}),
        "fast": ("minute", "ok", {"interval": "500ms"}),
    }
    project = extension_project(tmp_path, jobs, "app")
    args = (str(project.root), "--ledger", project.url, "--lease", "10")
    with ExitStack() as stack:
        providers = [
            stack.enter_context(provider_process(*args, env={}, log=tmp_path / f"p{i}.log"))
            for i in range(2)
        ]
        for i in range(2):
            wait_for(partial(_started, tmp_path / f"p{i}.log"), what=f"provider p{i} started")
        wait_for(lambda: len(project.ends("fast")) >= 4, what="both providers running")
        start = time.time()
        # An event, not a duration: 20 ticks of "beat" ended after `start`.
        wait_for(
            lambda: sum(_instant(k) > start for k in project.ends("beat")) >= 20,
            timeout=300,
            what="20 heartbeats",
        )
        stop = time.time()
        for process in providers:
            process.send_signal(signal.SIGTERM)
        for process in providers:
            assert process.wait(30) == 0
    records = ledger_records(project.root, project.url)
    for job, interval in (("beat", 1.0), ("fast", 0.5)):
        ends = project.ends(job)
        duplicates = sum(n - 1 for n in Counter(ends).values())
        model = ChaosJob(job, 0.0, interval=interval)
        recorded = [
            (key_instant(model, r.first), key_instant(model, r.last))
            for r in records
            if r.job == job and r.state in ALLOWED_STATES
        ]
        # Ticks due just before the stop may be pending, to run at the next start.
        ticks = run_instants(model, start, stop - 2.0)
        lost = [
            key
            for t, key in ticks
            if key not in ends
            and not any(lo is not None and hi is not None and lo <= t <= hi for lo, hi in recorded)
        ]
        figure(f"{job}_ticks", len(ticks))
        figure(f"{job}_ticks_run", sum(key in ends for _, key in ticks))
        figure(f"{job}_lost", len(lost))
        assert duplicates == 0, f"{job}: {duplicates} ticks ran twice"
        assert lost == [], f"{job}: {len(lost)} of {len(ticks)} ticks lost: {lost[:5]}"
    # Rows of ticks still pending at the stop have no owner yet.
    claimed = project.rows("kind = 'scheduled' AND owner IS NOT NULL")
    owners = {r["owner"].split(":")[1] for r in claimed}
    figure("providers_that_claimed", len(owners))
