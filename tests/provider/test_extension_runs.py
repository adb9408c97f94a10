"""The provider runs extension schedules and per-job run policy (SPEC.md 10.17, 9.7).

In-process: a `FakeClock`, the inline runner and a real SQLite file; jobs leave traces in
side files, so the tests count what the jobs did.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from scheduled_spec.loader import load
from scheduled_spec.provider.config import ProviderConfig
from scheduled_spec.provider.inline import InlineRunner
from scheduled_spec.provider.ledger import open_ledger
from scheduled_spec.provider.loop import Provider
from tests.provider.fakes import FakeClock
from tests.provider.helpers import Project, make_project
from tests.provider.test_loop import jobs_module, until

UTC = timezone.utc


def extension_project(
    directory: Path, jobs: Mapping[str, tuple[str, str, Mapping[str, object]]], package: str
) -> Project:
    """`make_project`, then each job's extension keys added to its table."""
    project = make_project(
        directory, {j: (every, kind) for j, (every, kind, _) in jobs.items()}, package
    )
    toml = (directory / "pyproject.toml").read_text()
    for job_id, (_, _, keys) in jobs.items():
        name = job_id.replace("-", "_")
        extra = "".join(f"{key} = {_toml(value)}\n" for key, value in keys.items())
        line = f'entrypoint = "{package}.jobs:{name}"\n'
        toml = toml.replace(line, line + extra)
    (directory / "pyproject.toml").write_text(toml)
    return project


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def provider(project: Project, clock: FakeClock, **settings: object) -> Provider:
    config = ProviderConfig(retention_days=1e6, **settings)  # type: ignore[arg-type]
    ledger = open_ledger(f"{project.url}?synchronous=normal", clock=clock)
    return Provider(
        load(project.root), ledger, InlineRunner(4), clock, config, monotonic=clock.monotonic
    )


def at(clock: FakeClock, when: str) -> None:
    clock.set(datetime.fromisoformat(when))


def test_a_cron_job_runs_at_its_instants_keyed_by_them(tmp_path: Path) -> None:
    project = extension_project(
        tmp_path, {"report": ("week", "ok", {"cron": "0 9 * * mon-fri"})}, "ext_cron"
    )
    clock = FakeClock("2026-11-23T08:59:59+00:00")  # a Monday
    p = provider(project, clock)
    p.step()  # first sight: no run of this week has come yet
    assert project.starts("report") == []
    for day in range(23, 30):
        at(clock, f"2026-11-{day}T09:00:00+00:00")
        p.step()
        until(lambda: not p.busy, p)
    assert project.ends("report") == [f"2026-11-{d}T09:00:00Z" for d in range(23, 28)]
    rows = project.rows("kind = 'scheduled' ORDER BY period_start")
    assert [r["scheduled_at"] for r in rows] == [
        datetime(2026, 11, d, 9, tzinfo=UTC).timestamp() for d in range(23, 28)
    ]


def test_a_local_at_time_runs_once_per_local_day_across_spring_forward(tmp_path: Path) -> None:
    """SPEC 9.3.3: 02:30 on the day clocks jump from 02:00 to 03:00 runs at 03:30."""
    project = extension_project(
        tmp_path,
        {"night": ("day", "ok", {"at": "02:30", "timezone": "Europe/Stockholm"})},
        "ext_at",
    )
    clock = FakeClock("2026-03-27T23:00:00+00:00")
    p = provider(project, clock)
    p.step()
    for _ in range(4 * 24 * 6):  # four days, every ten minutes
        clock.advance(600)
        p.step()
        until(lambda: not p.busy, p)
    assert project.ends("night") == ["2026-03-28", "2026-03-29", "2026-03-30", "2026-03-31"]
    starts = {r["period_key"]: r["scheduled_at"] for r in project.rows("kind = 'scheduled'")}
    assert starts["2026-03-28"] == datetime(2026, 3, 28, 1, 30, tzinfo=UTC).timestamp()
    assert starts["2026-03-29"] == datetime(2026, 3, 29, 1, 30, tzinfo=UTC).timestamp()  # 03:30
    assert starts["2026-03-30"] == datetime(2026, 3, 30, 0, 30, tzinfo=UTC).timestamp()


def test_sub_second_ticks_each_run_once_with_millisecond_keys(tmp_path: Path) -> None:
    project = extension_project(
        tmp_path, {"beat": ("minute", "ok", {"interval": 0.25})}, "ext_interval"
    )
    clock = FakeClock("2026-11-24T00:00:00+00:00")
    p = provider(project, clock)
    for _ in range(200):  # ten seconds in steps of 50 ms
        p.step()
        until(lambda: not p.busy, p)
        clock.advance(0.05)
    ends = project.ends("beat")
    assert len(ends) == len(set(ends)) == 40
    assert all(re.fullmatch(r"2026-11-24T00:00:0\d(\.\d{3})?Z", key) for key in ends)
    stamps = sorted(r["scheduled_at"] for r in project.rows("kind = 'scheduled'"))
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(stamps)}
    assert gaps == {0.25}


@pytest.mark.parametrize(
    ("policy", "runs", "gap"),
    [("latest", 1, 2), ("all", 3, None), ("none", 0, 3)],
)
def test_catch_up_after_downtime_counts_cron_runs_per_job_policy(
    tmp_path: Path, policy: str, runs: int, gap: int | None
) -> None:
    """Three daily cron runs pass while the provider is down; the job's own `catch-up`."""
    package = f"ext_catchup_{policy}"
    keys = {"cron": "0 6 * * *", "catch-up": policy}
    project = extension_project(tmp_path, {"job": ("day", "ok", keys)}, package)
    clock = FakeClock("2026-11-24T06:00:00+00:00")
    p = provider(project, clock, catch_up="all")  # the job's key wins over the flag
    p.step()
    until(lambda: not p.busy, p)
    assert project.ends("job") == ["2026-11-24T06:00:00Z"]
    at(clock, "2026-11-27T07:00:00+00:00")  # 25th, 26th and 27th passed
    later = provider(project, clock)
    later.step()
    until(lambda: not later.busy, later)
    assert len(project.ends("job")) == 1 + runs
    missed = project.rows("kind = 'missed'")
    if gap is None:
        assert missed == []
    else:
        (row,) = missed
        assert row["missed_count"] == gap
        assert row["period_key"] == "2026-11-25T06:00:00Z"


def test_overlap_skip_drops_ticks_that_come_due_while_one_runs(tmp_path: Path) -> None:
    project = extension_project(
        tmp_path, {"slow": ("minute", "gated", {"interval": 5, "overlap": "skip"})}, "ext_skip"
    )
    clock = FakeClock("2026-11-24T00:00:00+00:00")
    p = provider(project, clock)
    p.step()
    for _ in range(5):
        clock.advance(5)
        p.step()
    until(lambda: project.starts("slow"), p)
    assert len(project.rows("kind = 'skipped'")) >= 4
    jobs_module("ext_skip").GATE.set()
    until(lambda: not p.busy, p)
    assert len(project.starts("slow")) == 1


def test_overlap_allow_runs_ticks_side_by_side(tmp_path: Path) -> None:
    project = extension_project(
        tmp_path, {"wide": ("minute", "gated", {"interval": 5, "overlap": "allow"})}, "ext_allow"
    )
    clock = FakeClock("2026-11-24T00:00:00+00:00")
    p = provider(project, clock)
    for _ in range(3):
        clock.advance(5)
        p.step()
    until(lambda: len(project.starts("wide")) == 3, p)
    assert project.ends("wide") == []  # three runs at once, none ended yet
    jobs_module("ext_allow").GATE.set()
    until(lambda: len(project.ends("wide")) == 3 and not p.busy, p)


def test_a_run_waiting_for_room_is_no_overlap(tmp_path: Path) -> None:
    """SPEC 10.6: skipped only while one run runs and one waits; room is not overlap."""
    jobs = {
        "busy": ("minute", "gated", {"interval": 5}),
        "patient": ("minute", "ok", {"interval": 5}),
    }
    project = extension_project(tmp_path, jobs, "ext_room")
    clock = FakeClock("2026-11-24T00:00:30+00:00")  # a tick of each has passed this minute
    p = provider(project, clock, max_parallel=1)
    p.step()
    until(lambda: project.starts("busy") or project.starts("patient"), p)
    for _ in range(2):  # two more ticks of each while the one slot is taken
        clock.advance(5)
        p.step()
    jobs_module("ext_room").GATE.set()
    until(lambda: not p.busy, p)
    assert project.rows("kind = 'skipped' AND job_id = 'patient'") == []
    assert len(project.ends("patient")) == 3


def test_per_job_retries_and_timeout_override_the_provider(tmp_path: Path) -> None:
    jobs: dict[str, tuple[str, str, Mapping[str, object]]] = {
        "once": ("hour", "raise", {"at": ":00", "retries": 0}),
        "twice": ("hour", "raise", {"at": ":00", "retries": 1}),
        "short": ("hour", "gated", {"at": ":00", "timeout": "1s"}),
    }
    project = extension_project(tmp_path, jobs, "ext_policy")
    clock = FakeClock("2026-11-24T11:00:00+00:00")
    p = provider(project, clock, attempts=5, backoff=0.001)
    p.step()
    until(lambda: not p.busy, p, clock)
    attempts = {r["job_id"]: (r["state"], r["attempt"]) for r in project.rows("1")}
    assert attempts["once"] == ("failed", 1)
    assert attempts["twice"] == ("failed", 2)
    assert attempts["short"][0] == "timed_out"
    jobs_module("ext_policy").GATE.set()


def test_a_job_whose_schedule_changes_keeps_its_rows_and_runs_the_new_one(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"job": ("day", "ok")}, package="ext_change")
    clock = FakeClock("2026-11-24T23:59:59+00:00")
    p = provider(project, clock)
    p.step()
    until(lambda: not p.busy, p)
    assert project.ends("job") == ["2026-11-24"]
    toml = (tmp_path / "pyproject.toml").read_text() + 'cron = "30 0 * * *"\n'
    (tmp_path / "pyproject.toml").write_text(toml)
    at(clock, "2026-11-25T00:30:00+00:00")
    q = provider(project, clock)
    q.step()
    until(lambda: not q.busy, q)
    assert project.ends("job") == ["2026-11-24", "2026-11-25T00:30:00Z"]
    # The old row stays; the job placed by a cron now starts afresh (SPEC.md 10.5.4): its
    # first sight owes the current day, not the 24th's cron run, which is no gap.
    kinds = [(r["kind"], r["period_key"]) for r in project.rows("1 ORDER BY created_at")]
    assert sorted(kinds) == [("scheduled", "2026-11-24"), ("scheduled", "2026-11-25T00:30:00Z")]


def test_dry_run_lists_extension_runs_and_records_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = extension_project(
        tmp_path, {"job": ("hour", "ok", {"at": ":15", "timezone": "Asia/Kolkata"})}, "ext_dry"
    )
    clock = FakeClock("2026-11-24T10:50:00+00:00")  # 16:20 in Kolkata: 16:15 has passed
    p = provider(project, clock)
    with caplog.at_level(logging.INFO):
        assert p.due() == [("job", "2026-11-24T16", "due")]
    assert project.rows("1") == []
    p.step()
    until(lambda: not p.busy, p)
    (row,) = project.rows("1")
    assert row["scheduled_at"] == datetime(2026, 11, 24, 10, 45, tzinfo=UTC).timestamp()
    assert timedelta(seconds=clock.now().timestamp() - row["scheduled_at"]) == timedelta(minutes=5)
