"""What a job is owed survives the provider: first sight, queued runs, one attempt at a time.

Issue 11's observations 1-4, in-process: a `FakeClock`, the inline runner and a real SQLite
file. The oracle is each job's own log (one line per start and per clean end, written by
the job), never the ledger's rows; the ledger is read only for the states a policy allows
instead of a run (skipped, missed).
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

from scheduled_spec.cadence import Cadence, period_key
from scheduled_spec.loader import load
from scheduled_spec.provider.config import ProviderConfig
from scheduled_spec.provider.inline import InlineRunner
from scheduled_spec.provider.ledger import Ledger, open_ledger
from scheduled_spec.provider.loop import Provider
from scheduled_spec.provider.owner import Owner
from tests.provider.fakes import FakeClock
from tests.provider.helpers import Project, make_project
from tests.provider.test_extension_runs import extension_project

DAY0 = 1_780_185_600  # 2026-05-31T00:00:00Z


def provider(
    project: Project, clock: FakeClock, name: str = "a", **settings: object
) -> tuple[Provider, Ledger]:
    """A provider as a separate process would be: its own ledger connection and owner."""
    config = ProviderConfig(retention_days=1e6, **settings)  # type: ignore[arg-type]
    ledger = open_ledger(project.url, clock=clock)
    made = Provider(
        load(project.root), ledger, InlineRunner(4), clock, config, monotonic=clock.monotonic
    )
    made.owner = Owner(f"host-{name}", 1, "", name)  # another host: only leases decide
    return made, ledger


def tick(project: Project, clock: FakeClock) -> None:
    """`scheduled tick` as cron runs it: a fresh provider, what is due, wait, exit."""
    ticker, ledger = provider(project, clock, name=f"tick-{clock.wall:%H%M}")
    ticker.tick()
    ledger.close()


def until(condition: Callable[[], object], *providers: Provider) -> None:
    """Step the providers until `condition` holds (a generous real deadline)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)
        for p in providers:
            p.step()


def gate(project: Project) -> threading.Event:
    """The gate "gated" jobs wait on (their module is imported by the first run)."""
    package = next(p.parent.name for p in project.root.glob("*/jobs.py"))
    event: threading.Event = importlib.import_module(f"{package}.jobs").GATE
    return event


def accounted(project: Project, job: str) -> set[str]:
    """Minutes of `job` that ran to their end, or were recorded skipped or missed."""
    found = set(project.ends(job))
    for row in project.rows("job_id = ? AND kind IN ('skipped', 'missed')", job):
        last = row["last_period_start"] or row["period_start"]
        found |= {
            period_key(Cadence.MINUTE, start) for start in range(row["period_start"], last + 1, 60)
        }
    return found


def ids(n: int) -> list[str]:
    return [f"job-{i:02d}" for i in range(n)]


def test_ticks_at_second_zero_run_each_minute_job_once_a_minute(tmp_path: Path) -> None:
    """Observation 1: cron ticks at :00 never ran a minute job whose slot is not second 0."""
    jobs = dict.fromkeys(ids(40), ("minute", "ok"))
    project = make_project(tmp_path, jobs, package="ob_minute_ticks")
    clock = FakeClock()
    for minute in range(7):
        clock.set_epoch(DAY0 + 60 * minute)
        tick(project, clock)
    owed = [period_key(Cadence.MINUTE, DAY0 + 60 * m) for m in range(6)]
    for job in jobs:
        ran = project.ends(job)
        # Minute 6's slot may be second 0 (then it ran at the last tick): never more.
        assert ran[:6] == owed, (job, ran)
        assert len(ran) <= 7


def test_hourly_ticks_run_each_hour_and_day_job(tmp_path: Path) -> None:
    """Hourly ticks: every hour job runs each hour; a day job whose slot comes after the
    day's last tick runs at the next day's first tick."""
    jobs = {f"h-{job}": ("hour", "ok") for job in ids(20)}
    jobs |= {f"d-{job}": ("day", "ok") for job in ids(20)}
    project = make_project(tmp_path, jobs, package="ob_hour_ticks")
    clock = FakeClock()
    for hour in range(10, 25):
        clock.set_epoch(DAY0 + 3_600 * hour)
        tick(project, clock)
    for job, (every, _) in jobs.items():
        ran = project.ends(job)
        if every == "hour":
            owed = [period_key(Cadence.HOUR, DAY0 + 3_600 * h) for h in range(10, 24)]
            assert ran[:14] == owed, (job, ran)
        else:
            assert ran == ["2026-05-31"], (job, ran)


def test_a_queued_run_survives_a_crash_and_a_clean_stop(tmp_path: Path) -> None:
    """Observation 2: a run waiting behind a running attempt lived only in memory."""
    project = make_project(tmp_path, {"job": ("minute", "gated")}, package="ob_queued")
    clock = FakeClock()
    clock.set_epoch(DAY0 + 59)  # every minute job's slot of minute 0 has passed
    first, ledger = provider(project, clock, lease=300.0)
    first.step()
    until(lambda: project.starts("job"), first)
    clock.advance(60)
    first.step()  # minute 1 comes due: it waits behind minute 0
    assert project.starts("job") == [period_key(Cadence.MINUTE, DAY0)]
    ledger.close()  # the provider crashes (its in-memory queue goes with it)
    gate(project).set()
    until(lambda: project.ends("job"))
    clock.advance(301)  # its lease expires
    second, _ = provider(project, clock, name="b", lease=300.0)
    until(lambda: len(project.ends("job")) == 3 and not second.busy, second)
    second.shutdown()  # a clean stop, while nothing runs: nothing is lost either
    minutes = [period_key(Cadence.MINUTE, DAY0 + 60 * m) for m in range(2)]
    # Minute 0 ran to its end without being recorded (the provider was gone): it runs again.
    assert project.ends("job") == [minutes[0], minutes[0], minutes[1]]
    # The minutes the provider was down for are recorded (missed, or skipped behind the two
    # owed runs): none is simply absent.
    assert accounted(project, "job") == {
        period_key(Cadence.MINUTE, DAY0 + 60 * m) for m in range(7)
    }


def test_two_providers_never_run_one_job_at_once(tmp_path: Path) -> None:
    """Observation 3: buffer-one was enforced per process; the ledger decides now."""
    project = make_project(tmp_path, {"job": ("minute", "gated")}, package="ob_two")
    clock = FakeClock()
    clock.set_epoch(DAY0 + 59)
    one, _ = provider(project, clock, name="a")
    two, _ = provider(project, clock, name="b")
    one.step()
    until(lambda: project.starts("job"), one)
    clock.advance(60)
    two.step()  # minute 1 is due on the other provider while minute 0 runs
    one.step()
    clock.advance(5)
    two.step()
    one.step()
    assert len(project.starts("job")) == 1
    gate(project).set()
    until(lambda: len(project.ends("job")) == 2 and not (one.busy or two.busy), one, two)
    lines = [line.split()[0] for line in project.lines("job")]
    assert lines == ["start", "end", "start", "end"]


def test_a_restart_never_records_missed_what_a_live_provider_queued(tmp_path: Path) -> None:
    """Observation 4: a gap recorded from a stale horizon covered runs others ran."""
    project = make_project(tmp_path, {"job": ("minute", "gated")}, package="ob_gap")
    clock = FakeClock()
    clock.set_epoch(DAY0 + 59)
    live, _ = provider(project, clock, name="a", catch_up="latest")
    late, _ = provider(project, clock, name="b", catch_up="latest")
    live.step()
    until(lambda: project.starts("job"), live)
    late.load()  # the restarting provider reads the horizon (minute 0) now ...
    for _ in range(3):  # ... while the live one queues minute 1 and skips minutes 2, 3
        clock.advance(60)
        live.step()
    late.step()  # ... and decides from its stale horizon
    gate(project).set()
    until(lambda: not (live.busy or late.busy) and len(project.ends("job")) == 2, live, late)
    assert project.rows("kind = 'missed'") == []
    minutes = [period_key(Cadence.MINUTE, DAY0 + 60 * m) for m in range(4)]
    assert accounted(project, "job") == set(minutes)
    assert project.ends("job") == minutes[:2]
    assert [line.split()[0] for line in project.lines("job")] == ["start", "end"] * 2


def test_an_allow_job_run_left_by_a_dead_provider_is_taken_over_while_others_run(
    tmp_path: Path,
) -> None:
    """I5 for `overlap = "allow"`: the take-over waited for the job to have no run here,
    which a job always running side by side never has (found by the chaos suite)."""
    project = extension_project(
        tmp_path, {"job": ("minute", "gated", {"overlap": "allow"})}, "ob_allow_takeover"
    )
    clock = FakeClock()
    clock.set_epoch(DAY0 + 59)
    first, ledger = provider(project, clock, lease=120.0)
    first.step()
    until(lambda: project.starts("job"), first)
    ledger.close()  # it dies holding minute 0
    clock.advance(60)  # minute 1 is due; minute 0's lease has a minute to go
    second, _ = provider(project, clock, name="b", lease=120.0)
    until(lambda: len(project.starts("job")) == 2, second)
    clock.advance(61)  # minute 0's lease expired, while minute 1 runs here
    until(lambda: len(project.starts("job")) == 4, second)
    minutes = [period_key(Cadence.MINUTE, DAY0 + 60 * m) for m in range(3)]
    assert sorted(project.starts("job")) == [minutes[0], minutes[0], minutes[1], minutes[2]]
    gate(project).set()
    until(lambda: not second.busy, second)
    states = {r["period_key"]: r["state"] for r in project.rows("1")}
    assert states == dict.fromkeys(minutes, "succeeded")


def test_a_tick_that_loses_the_race_for_a_horizon_decides_again_at_once(tmp_path: Path) -> None:
    """A tick collects what is due once: when another provider moved a job's horizon
    between the tick's load and its step, the tick must decide again from the ledger's
    horizon there and then, not leave the job for a later pass it never makes."""
    project = make_project(tmp_path, {"job": ("minute", "ok")}, package="ob_tick_race")
    clock = FakeClock()
    clock.set_epoch(DAY0 + 59)
    live, _ = provider(project, clock, name="a")
    live.step()
    until(lambda: project.ends("job"), live)  # minute 0, and the horizon, by the live one
    ticker, ledger = provider(project, clock, name="tick")
    ticker.load()  # the tick reads the horizon (minute 0) ...
    clock.advance(60)
    live.step()  # ... the live provider moves it to minute 1 ...
    until(lambda: len(project.ends("job")) == 2 and not live.busy, live)
    clock.advance(60)
    ticker.tick()  # ... and at minute 2 the tick's first decision is refused
    ledger.close()
    minutes = [period_key(Cadence.MINUTE, DAY0 + 60 * m) for m in range(3)]
    assert minutes[2] in project.ends("job")


def test_in_a_rolling_deploy_the_provider_started_last_decides_a_changed_job(
    tmp_path: Path,
) -> None:
    """Two versions of the project share a ledger while a deploy rolls; the job's cadence
    changed. The provider of the version started last decides the job; the other leaves it,
    instead of taking it back at every turn, which reset its horizon each time and lost
    the new cadence's periods (the simulation's seed 1950)."""
    old = make_project(tmp_path / "old", {"job": ("minute", "ok")}, package="ob_deploy_old")
    new = make_project(tmp_path / "new", {"job": ("hour", "ok")}, package="ob_deploy_new")
    new.ledger = old.ledger  # one ledger for both versions
    clock = FakeClock()
    clock.set_epoch(DAY0 + 59)
    first, _ = provider(old, clock, name="old")
    until(lambda: old.ends("job"), first)
    second, ledger = provider(new, clock, name="new")
    second.step()  # started last: the job counts hours now
    for _ in range(5):
        clock.advance(60)
        first.step()
        second.step()
    assert ledger.horizons()["job"].schedule == "hour"
    clock.set_epoch(DAY0 + 3_600 + 3_599)  # the next hour's slot has passed
    until(lambda: new.ends("job"), first, second)
    assert new.ends("job") == [period_key(Cadence.HOUR, DAY0 + 3_600)]
