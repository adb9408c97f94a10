"""Observed breaches of the provider's promise, one real-process test each (TESTING.md 2).

The promise: every run instant of a job after its first sight runs at least once, or has a
ledger row its policy allows (skipped by overlap, missed by catch-up); never two attempts
of one job at once; no run executed twice without a crash. The oracle is the jobs' own log
and a schedule model written from SPEC.md (tests/provider/chaos.py), never the provider's
own functions. Each test's docstring gives what it showed on the provider before its core
was redesigned; the tests stay strict, and pass once the core keeps the promise.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import pytest

from tests.provider.chaos import (
    PERIOD_SECONDS,
    Job,
    Planned,
    Project,
    Record,
    Result,
    Scenario,
    at_once,
    key_instant,
    ledger_records,
    make_project,
    run_instants,
    run_scenario,
    selected,
    slot_offset,
)
from tests.provider.conftest import Figure
from tests.provider.helpers import scheduled

# One worker runs the whole module: its fixture starts the selected scenarios together.
pytestmark = pytest.mark.xdist_group("observations")

UTC = timezone.utc
BASE = 1_780_308_000  # 2026-06-01T10:00:00Z: second 0 of a minute, of an hour
HOUR, DAY = 3_600, 86_400


# --- a. `scheduled tick` driven the way cron drives it ------------------------------------------


def _now(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tick(project: Project, url: str, ticks: Sequence[float]) -> dict[tuple[str, str], list[int]]:
    """Run ``scheduled tick --now`` at each instant on a fresh ledger, as cron would.

    Returns, for each (job, period) that ended, the indexes of the ticks that ran it (a tick
    waits for its runs, so the lines each one appends to the log are its own).
    """
    ran: dict[tuple[str, str], list[int]] = defaultdict(list)
    seen = 0
    for k, t in enumerate(ticks):
        done = scheduled("tick", str(project.root), "--ledger", url, "--now", _now(t))
        assert done.returncode == 0, f"tick {k} at {_now(t)}: {done.stderr[-3000:]}"
        lines = project.lines()
        for line in lines[seen:]:
            if line.kind == "end":
                ran[(line.job, line.period)].append(k)
        seen = len(lines)
    return ran


def _tick_figures(
    jobs: Sequence[Job],
    ticks: Sequence[float],
    ran: dict[tuple[str, str], list[int]],
    records: Sequence[Record],
) -> dict[str, object]:
    """Each run instant from the period of the first tick (first sight) to the last tick.

    The newest instant at or before a tick is due then and runs then (SPEC.md 10.5.1, 10.5.3:
    catch-up ``latest`` runs the latest due period; 10.5.4: a job's current period at first
    sight is due at its slot, at once if it has passed); an older one runs or is recorded
    missed. lost: an instant that should have run and never did, or an older one neither run
    nor recorded; late: a newest instant run only at a later tick.
    """
    expected = done = missed = lost = late = duplicates = 0
    examples: list[str] = []
    for job in jobs:
        length = PERIOD_SECONDS[job.every]
        first = ticks[0] - ticks[0] % length  # the start of the period of first sight
        ranges = [
            (lo, hi)
            for r in records
            if r.job == job.id and r.state in ("missed", "skipped")
            for lo, hi in [(key_instant(job, r.first), key_instant(job, r.last))]
            if lo is not None and hi is not None
        ]
        instants = run_instants(job, first - 0.001, ticks[-1])
        for i, (t, key) in enumerate(instants):
            expected += 1
            k = next(k for k, tick in enumerate(ticks) if round(tick * 1000) >= t)
            following = instants[i + 1][0] if i + 1 < len(instants) else None
            newest = following is None or following > round(ticks[k] * 1000)
            got = ran.get((job.id, key), [])
            duplicates += max(0, len(got) - 1)
            if got:
                done += 1
                late += newest and got[0] != k
            elif not newest and any(lo <= t <= hi for lo, hi in ranges):
                missed += 1
            else:
                lost += 1
                examples.append(f"{job.id} {key} (due at tick {k}, {_now(ticks[k])})")
    return {
        "jobs": len(jobs),
        "ticks": len(ticks),
        "expected": expected,
        "ran": done,
        "missed": missed,
        "lost": lost,
        "late": late,
        "duplicates": duplicates,
        "lost_examples": examples[:8],
    }


def _ids(prefix: str, every: str, n: int, lo: int = 1, hi: int | None = None) -> list[str]:
    """The first `n` IDs ``prefix-i`` whose slot offset in `every` is in ``[lo, hi)``."""
    top = PERIOD_SECONDS[every] if hi is None else hi
    found = (f"{prefix}-{i}" for i in range(100_000))
    return [j for j in found if lo <= slot_offset(j, every) < top][:n]


def _assert_ticks_kept(figures: dict[str, object]) -> None:
    assert (figures["lost"], figures["late"], figures["duplicates"]) == (0, 0, 0), figures


def test_cron_ticks_at_second_0_run_every_minute_job_once_per_minute(
    tmp_path: Path, figure: Figure
) -> None:
    """16 minute jobs, none slotted at second 0, a fresh ledger, `scheduled tick` at second 0
    of 6 minutes. Each job's slot of a minute has passed at the next tick, so each job runs
    once per minute from its first minute on: 5 runs each. Before the redesign: 0 of 80
    ran in 6 ticks (first sight was recorded nowhere; at every tick the job was new again
    and its current minute's slot had not come)."""
    jobs = [Job(j, 0.0) for j in _ids("sync-orders", "minute", 16)]
    project = make_project(tmp_path, jobs)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ticks = [BASE + 60.0 * k for k in range(6)]
    ran = _tick(project, url, ticks)
    figures = _tick_figures(jobs, ticks, ran, ledger_records(project.root, url))
    figure("tick", figures)
    assert figures["expected"] == 16 * 5
    _assert_ticks_kept(figures)


def test_cron_ticks_every_five_minutes_with_jitter_run_the_latest_minute_and_record_the_rest(
    tmp_path: Path, figure: Figure
) -> None:
    """16 minute jobs ticked every 5 minutes, each tick 0 to 5 s late (cron under load): at
    each tick every job runs its latest passed minute, the minutes before it since the last
    tick are recorded missed. Before the redesign: of 324 minutes, 20 ran, 64 were recorded
    missed, 240 were lost."""
    rng = random.Random(5)  # noqa: S311 - a reproducible jitter, not a secret
    jobs = [Job(j, 0.0) for j in _ids("prune-sessions", "minute", 16)]
    project = make_project(tmp_path, jobs)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ticks = [BASE + 300.0 * k + rng.randint(0, 5) for k in range(5)]
    ran = _tick(project, url, ticks)
    figures = _tick_figures(jobs, ticks, ran, ledger_records(project.root, url))
    figure("tick", figures)
    _assert_ticks_kept(figures)
    assert figures["ran"] == 16 * len(ticks[1:]) + sum(
        1 for j in jobs if slot_offset(j.id, "minute") <= ticks[0] - BASE
    )


def test_hourly_ticks_run_hour_jobs_and_a_day_slot_after_the_last_tick_the_next_morning(
    tmp_path: Path, figure: Figure
) -> None:
    """12 hour jobs and 6 day jobs, `scheduled tick` at minute 0 of each hour from 20:00 to
    03:00. Each hour job runs each hour; a day job slotted after 23:00 (after the day's last
    tick) runs late, at 00:00; one slotted before 20:00 runs at the first tick; one slotted
    between runs at the first tick after its slot. Before the redesign: 3 of 90 ran (no
    hour job ever ran; no day job slotted after the first tick ran)."""
    base = BASE - BASE % DAY + 20 * HOUR  # 2026-06-01T20:00:00Z
    jobs = [Job(j, 0.0, every="hour") for j in _ids("refresh-cache", "hour", 12)]
    jobs += [Job(j, 0.0, every="day") for j in _ids("nightly", "day", 3, lo=23 * HOUR + 1)]
    jobs += [Job(j, 0.0, every="day") for j in _ids("daily", "day", 2, 20 * HOUR + 1, 23 * HOUR)]
    jobs += [Job(j, 0.0, every="day") for j in _ids("morning", "day", 1, hi=20 * HOUR)]
    project = make_project(tmp_path, jobs)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ticks = [base + HOUR * k for k in range(8)]
    ran = _tick(project, url, ticks)
    figures = _tick_figures(jobs, ticks, ran, ledger_records(project.root, url))
    figure("tick", figures)
    assert figures["expected"] == 12 * 7 + 6
    _assert_ticks_kept(figures)
    nightly = [j.id for j in jobs if j.id.startswith("nightly")]
    assert all(ran.get((j, "2026-06-01")) == [4] for j in nightly), "at 00:00, late"


# --- b, c, d: `scheduled run` processes, at once --------------------------------------------

QUEUES = Job("queues", 2.5, interval=1)  # one tick waits behind each run, the next is skipped


def _queued(fault: str) -> Scenario:
    """b: one provider, `--catch-up all`, stopped after ~7 s, restarted, stopped ~8 s later."""
    return Scenario(
        f"queued-{fault}",
        (QUEUES,),
        seconds=15.0,
        plan=(Planned(7.0, fault),),
        args=("--catch-up", "all"),
        drain=15.0,
    )


# c: two providers, one job of `interval = 1` that takes 1.5 s, 15 s, no fault.
TWO_PROVIDERS = Scenario(
    "two-providers", (Job("job", 1.5, interval=1),), providers=2, seconds=15.0, plan=(), drain=15.0
)
# d: three providers; two stay up, the third is killed or stopped and restarted, four times.
GAP_ROWS = Scenario(
    "gap-rows",
    (QUEUES, Job("quick", 0.05, interval=1)),
    providers=3,
    seconds=16.0,
    plan=tuple(
        Planned(at, kind, provider=2)
        for at, kind in ((3.0, "kill"), (6.5, "term"), (10.0, "kill"), (13.5, "term"))
    ),
    drain=15.0,
)
SCENARIOS = {
    "test_periods_queued_behind_a_run_survive_a_kill_9_and_restart": _queued("kill"),
    "test_periods_queued_behind_a_run_survive_a_sigterm_and_restart": _queued("term"),
    "test_two_providers_on_one_sqlite_ledger_never_start_a_run_while_another_runs": TWO_PROVIDERS,
    "test_a_restarting_provider_records_no_gap_over_ticks_live_providers_handle": GAP_ROWS,
}


@pytest.fixture(scope="module", autouse=True)
def scenarios(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Result]]]:
    """The real-time scenarios of the selected tests, started together in threads as the
    module starts (their processes mostly wait on the clock: the module takes the time of
    the longest, and the tick tests run meanwhile, on a machine they make busy)."""
    wanted = selected(request.session.items, request.module)
    runs: dict[str, Callable[[], Result]] = {
        test: partial(run_scenario, scenario, tmp_path_factory.mktemp(scenario.name))
        for test, scenario in SCENARIOS.items()
        if test in wanted
    }
    with at_once(runs) as started:
        yield started


def _result(scenarios: dict[str, Future[Result]], request: pytest.FixtureRequest) -> Result:
    return scenarios[request.node.originalname].result()


def test_periods_queued_behind_a_run_survive_a_kill_9_and_restart(
    scenarios: dict[str, Future[Result]], request: pytest.FixtureRequest
) -> None:
    """One job of `interval = 1` that takes 2.5 s (one tick waits behind each run),
    `scheduled run --catch-up all`, kill -9 after ~7 s, restarted at once, SIGTERM ~8 s
    later: every tick after first sight ran or is recorded skipped or missed.
    Before the redesign: 1 of 21 or 22 ticks lost in each of three runs, the tick queued
    behind the killed run (7 ran, 13 or 14 skipped)."""
    result = _result(scenarios, request)
    result.assert_kept()
    assert result.figures.faults == {"kill": 1}


def test_periods_queued_behind_a_run_survive_a_sigterm_and_restart(
    scenarios: dict[str, Future[Result]], request: pytest.FixtureRequest
) -> None:
    """The same with a clean SIGTERM instead of kill -9 (the provider waits for its run).
    Before the redesign: 1 of 22 or 23 ticks lost in each of three runs, the tick queued
    when SIGTERM came (8 ran, 13 or 14 skipped)."""
    result = _result(scenarios, request)
    result.assert_kept()
    assert result.figures.faults == {"term": 1}


def test_two_providers_on_one_sqlite_ledger_never_start_a_run_while_another_runs(
    scenarios: dict[str, Future[Result]], request: pytest.FixtureRequest
) -> None:
    """Two `scheduled run` on one SQLite ledger, one job of `interval = 1` that takes 1.5 s,
    15 s, no fault: no run may start while another attempt of the job runs (SPEC.md 10.6.1).
    Before the redesign: 5 to 6 of 6 to 8 runs started while another attempt of the job ran,
    in each of five runs (each provider queued the next tick behind its own run only)."""
    result = _result(scenarios, request)
    result.assert_kept()
    assert result.figures.ran > 0


def test_a_restarting_provider_records_no_gap_over_ticks_live_providers_handle(
    scenarios: dict[str, Future[Result]], request: pytest.FixtureRequest
) -> None:
    """Three `scheduled run` on one SQLite ledger, `catch-up = latest`; two stay up, the
    third is killed (-9) or stopped (SIGTERM) and restarted at once, four times in 16 s.
    With a provider up throughout no tick is ever missed: no missed row may cover a tick the
    live providers ran, queued or skipped, no run may lie inside one, and no tick is absent.
    Before the redesign: 5 to 8 runs started while another attempt of their job ran, in each
    of five runs (20 to 24 of 30 ran; the restarted provider ran ticks a live one had
    queued). No missed row showed in those runs: the window for one (a restart between a
    tick's coming due and a live provider recording it) is a few milliseconds."""
    result = _result(scenarios, request)
    result.assert_kept()
    f = result.figures
    assert (f.runs_inside_missed, f.missed) == (0, 0), result.report()
