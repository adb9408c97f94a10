"""Issue 3 scenarios with real processes: the `scheduled` command, child processes, kill -9.

Time is either ``tick --now`` or a file clock (SCHEDULED_CLOCK_FILE) that the test rewrites
to move several real provider processes at once. Duplicates and losses are counted from
the side files the jobs append to (tests/provider/helpers.py), not from the ledger.
"""

from __future__ import annotations

import os
import signal
from contextlib import ExitStack
from pathlib import Path

from scheduled_spec.cadence import Cadence, period_key
from scheduled_spec.slots import slot_offset
from tests.provider.conftest import Figure
from tests.provider.helpers import (
    make_project,
    provider_process,
    rfc3339,
    scheduled,
    set_clock,
    wait_for,
)

# Sunday 2026-05-31T23:59:59Z: every cadence's slot of the current period has passed.
T = 1_780_271_999
DAY = 86_400
CLOCK = "SCHEDULED_CLOCK_FILE"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); /proc tells it is dead.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_kill_9_of_provider_and_child_reruns_the_period(tmp_path: Path, figure: Figure) -> None:
    """Scenario 2: kill -9 during a run; the restarted provider runs the period again."""
    project = make_project(tmp_path, {"job": ("day", "first-hangs")})
    clock = tmp_path / "clock"
    set_clock(clock, T)
    env = {CLOCK: str(clock)}
    with provider_process(str(project.root), env=env, log=tmp_path / "a.log") as first:
        wait_for(lambda: project.starts("job"), what="the first start")
        child = int(project.lines("job")[0].split()[3])
        first.send_signal(signal.SIGKILL)
        first.wait()
        os.kill(child, signal.SIGKILL)  # the child has its own session: kill it too
    with provider_process(str(project.root), env=env, log=tmp_path / "b.log") as second:
        wait_for(lambda: project.rows("state = 'succeeded'"), what="the re-run")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    starts, ends = project.starts("job"), project.ends("job")
    assert starts == [starts[0], starts[0]]
    assert ends == [starts[0]]
    (row,) = project.rows("1")
    assert row["fence"] == 2
    assert "running it again" in (tmp_path / "b.log").read_text()
    figure("runs_lost", 1 - len(ends))


def test_kill_9_between_claim_and_child_start_reruns_the_period(
    tmp_path: Path, figure: Figure
) -> None:
    """Scenario 3: SIGKILL right after the claim commits, before the child starts."""
    project = make_project(tmp_path, {"job": ("day", "ok")})
    crashed = scheduled(
        "tick", str(project.root), "--now", rfc3339(T), env={"SCHEDULED_FAILPOINT": "after-claim"}
    )
    assert crashed.returncode == -signal.SIGKILL
    assert project.starts("job") == []
    assert [r["state"] for r in project.rows("1")] == ["running"]
    again = scheduled("tick", str(project.root), "--now", rfc3339(T))
    assert again.returncode == 0, again.stderr
    assert len(project.ends("job")) == 1
    assert [r["state"] for r in project.rows("1")] == ["succeeded"]
    figure("runs_lost", 1 - len(project.ends("job")))


def test_three_days_down_latest_runs_once_all_runs_three(tmp_path: Path, figure: Figure) -> None:
    """Scenario 4: a daily job, provider down 3 days."""
    figures = {}
    for policy, expected_runs in (("latest", 1), ("all", 3)):
        project = make_project(tmp_path / policy, {"job": ("day", "ok")})
        assert scheduled("tick", str(project.root), "--now", rfc3339(T)).returncode == 0
        later = scheduled(
            "tick", str(project.root), "--now", rfc3339(T + 3 * DAY), "--catch-up", policy
        )
        assert later.returncode == 0, later.stderr
        catch_up = project.ends("job")[1:]
        assert len(catch_up) == expected_runs
        assert len(set(catch_up)) == expected_runs
        missed = project.rows("kind = 'missed'")
        assert sum(r["missed_count"] for r in missed) == 3 - expected_runs
        figures[policy] = (len(catch_up), sum(r["missed_count"] for r in missed))
    figure("latest_runs_missed", figures["latest"])
    figure("all_runs_missed", figures["all"])


def _two_hourly_ids() -> tuple[str, str, int, int]:
    """A job ID to hang and one whose hourly slot comes at least 60 s later."""
    for i in range(100):
        hang = f"hang-{i}"
        for j in range(100):
            quick = f"quick-{j}"
            oh, oq = slot_offset(hang, "hour"), slot_offset(quick, "hour")
            if oh + 60 < oq:
                return hang, quick, oh, oq
    raise AssertionError("no pair found")  # pragma: no cover


def test_job_longer_than_its_period_never_overlaps(tmp_path: Path, figure: Figure) -> None:
    """Scenario 7: one instance at a time; the next period starts right after; then skipped."""
    project = make_project(tmp_path, {"long": ("minute", "exclusive")})
    clock, log = tmp_path / "clock", tmp_path / "run.log"
    p0 = T - T % 60
    set_clock(clock, p0 + 59)
    with provider_process(str(project.root), env={CLOCK: str(clock)}, log=log) as provider:
        wait_for(lambda: project.starts("long"), what="the first start")
        set_clock(clock, p0 + 60 + 59)
        wait_for(lambda: "waits for the previous run" in log.read_text(), what="queued")
        set_clock(clock, p0 + 120 + 59)
        wait_for(lambda: project.rows("kind = 'skipped'"), what="skipped")
        wait_for(lambda: len(project.ends("long")) == 2, what="the buffered run")
        provider.send_signal(signal.SIGTERM)
        assert provider.wait(30) == 0
    lines = project.lines("long")
    keys = [period_key(Cadence.MINUTE, p0 + 60 * i) for i in range(3)]
    assert not [line for line in lines if line == "OVERLAP"]
    assert [line.split()[:2] for line in lines] == [
        ["start", keys[0]],
        ["end", keys[0]],
        ["start", keys[1]],
        ["end", keys[1]],
    ]
    assert [r["period_key"] for r in project.rows("kind = 'skipped'")] == [keys[2]]
    figure("overlaps", 0)


def test_hanging_job_times_out_and_others_keep_their_slots(tmp_path: Path, figure: Figure) -> None:
    """Scenario 8: stopped at its timeout (SIGTERM ignored, so SIGKILL), recorded timed_out."""
    hang, quick, hang_offset, quick_offset = _two_hourly_ids()
    project = make_project(tmp_path, {hang: ("hour", "hang"), quick: ("hour", "ok")})
    clock, log = tmp_path / "clock", tmp_path / "run.log"
    hour = T - T % 3_600
    set_clock(clock, hour + hang_offset)
    args = (str(project.root), "--timeout", "4", "--kill-grace", "1", "--attempts", "1")
    with provider_process(*args, env={CLOCK: str(clock)}, log=log) as provider:
        wait_for(lambda: project.starts(hang), what="the hanging job")
        set_clock(clock, hour + quick_offset)
        wait_for(lambda: project.ends(quick), what="the other job")
        assert [r["state"] for r in project.rows("job_id = ?", hang)] == ["running"]
        wait_for(lambda: project.rows("state = 'timed_out'"), what="the timeout")
        provider.send_signal(signal.SIGTERM)
        assert provider.wait(30) == 0
    pid = int(project.lines(hang)[0].split()[3])
    assert _gone(pid)
    (row,) = project.rows("job_id = ?", hang)
    assert row["error"] == "timed out after 4 s"
    late = project.query(
        "SELECT a.started_at - r.scheduled_at FROM attempts a JOIN runs r USING (run_id)"
        " WHERE r.job_id = ?",
        quick,
    )
    figure("other_job_lateness_seconds", late[0][0])
    assert late[0][0] == 0  # the file clock stood still at its slot: it started on time


def test_crashing_jobs_are_recorded_failed_with_the_reason(tmp_path: Path, figure: Figure) -> None:
    """Scenario 9: segfault, os._exit(3) and an exception; retried; the provider is fine."""
    jobs = {
        "segv": ("day", "segfault"),
        "exit3": ("day", "exit3"),
        "raises": ("day", "raise"),
        "fine": ("day", "ok"),
    }
    project = make_project(tmp_path, jobs)
    result = scheduled(
        "tick", str(project.root), "--now", rfc3339(T), "--attempts", "2", "--backoff", "0.05"
    )
    assert result.returncode == 1
    errors = {r["job_id"]: (r["state"], r["error"], r["attempt"]) for r in project.rows("1")}
    assert errors == {
        "segv": ("failed", "killed by SIGSEGV", 2),
        "exit3": ("failed", "exit code 3", 2),
        "raises": ("failed", "ValueError: boom", 2),
        "fine": ("succeeded", None, 1),
    }
    for job in ("segv", "exit3", "raises"):
        assert len(project.starts(job)) == 2
    figure("recorded_errors", sorted(e[1] for e in errors.values() if e[1]))


def test_eight_providers_on_one_ledger_run_each_period_once(tmp_path: Path, figure: Figure) -> None:
    """Scenario 10: 8 `scheduled run` processes, one SQLite file, 200 periods."""
    jobs = {f"job-{i}": ("minute", "ok") for i in range(3)}
    project = make_project(tmp_path, jobs)
    clock = tmp_path / "clock"
    p0 = T - T % 60
    set_clock(clock, p0 + 59)
    env = {CLOCK: str(clock)}
    args = (str(project.root), "--runner", "inline", "--lease", "60")
    logs = [tmp_path / f"provider-{i}.log" for i in range(8)]
    with ExitStack() as stack:
        processes = [stack.enter_context(provider_process(*args, env=env, log=log)) for log in logs]
        for k in range(200):
            set_clock(clock, p0 + 60 * k + 59)

            def recorded(n: int = 3 * (k + 1)) -> bool:
                return len(project.rows("state = 'succeeded'")) >= n

            wait_for(recorded, what=f"period {k}")
        for process in processes:
            assert process.poll() is None
            process.send_signal(signal.SIGTERM)
        assert [p.wait(60) for p in processes] == [0] * 8
    duplicates = sum(project.duplicates(j) for j in jobs)
    runs = sum(len(project.ends(j)) for j in jobs)
    text = "".join(log.read_text() for log in logs)
    locked = text.count("database is locked")
    assert duplicates == 0
    assert runs == 600
    assert locked == 0
    assert "Traceback" not in text
    figure("duplicates", duplicates)
    figure("locked_errors", locked)


def test_sigterm_during_a_run_records_abandoned_and_reruns(tmp_path: Path, figure: Figure) -> None:
    """Scenario 11: SIGTERM: the run is recorded abandoned and re-runs at the next start."""
    project = make_project(tmp_path, {"job": ("day", "first-hangs")})
    clock = tmp_path / "clock"
    set_clock(clock, T)
    args = (str(project.root), "--shutdown-grace", "0.5", "--kill-grace", "0.5")
    with provider_process(*args, env={CLOCK: str(clock)}, log=tmp_path / "a.log") as provider:
        wait_for(lambda: project.starts("job"), what="the first start")
        provider.send_signal(signal.SIGTERM)
        assert provider.wait(30) == 0
    (row,) = project.rows("1")
    assert row["state"] == "abandoned"
    assert _gone(int(project.lines("job")[0].split()[3]))
    again = scheduled("tick", str(project.root), "--now", rfc3339(T))
    assert again.returncode == 0, again.stderr
    starts = project.starts("job")
    assert starts == [starts[0], starts[0]]
    assert project.ends("job") == [starts[0]]
    figure("reruns_after_sigterm", 1)


def test_corrupt_ledger_is_quarantined_and_the_provider_keeps_running(
    tmp_path: Path, figure: Figure
) -> None:
    """Scenario 12: a corrupt file is moved aside; a fresh ledger; the job runs."""
    project = make_project(tmp_path, {"job": ("day", "ok")})
    project.ledger.parent.mkdir()
    project.ledger.write_bytes(b"\x00garbage, not SQLite" * 500)
    clock, log = tmp_path / "clock", tmp_path / "run.log"
    set_clock(clock, T)
    with provider_process(str(project.root), env={CLOCK: str(clock)}, log=log) as provider:
        wait_for(lambda: project.ends("job"), what="the run on the fresh ledger")
        assert provider.poll() is None
        provider.send_signal(signal.SIGTERM)
        assert provider.wait(30) == 0
    quarantined = list(project.ledger.parent.glob("ledger.sqlite3.corrupt-*"))
    assert len(quarantined) == 1
    assert "is corrupt" in log.read_text()
    assert [r["state"] for r in project.rows("1")] == ["succeeded"]
    figure("quarantined_files", len(quarantined))


def test_ten_restarts_in_a_month_run_a_monthly_job_once(tmp_path: Path, figure: Figure) -> None:
    """Scenario 13: 10 starts within one month, with aggressive pruning: it ran once."""
    project = make_project(tmp_path, {"job": ("month", "ok")})
    for i in range(10):
        instant = rfc3339(T - (9 - i) * 3_600)  # the last hours of May 2026
        result = scheduled("tick", str(project.root), "--now", instant, "--retention-days", "0.001")
        assert result.returncode == 0, result.stderr
    runs = len(project.ends("job"))
    assert runs == 1
    figure("runs", runs)


def test_tick_twice_runs_nothing_the_second_time_and_dry_run_is_exact(
    tmp_path: Path, figure: Figure
) -> None:
    """Scenario 14: `tick --dry-run` lists exactly what `tick` runs; a second tick runs none."""
    jobs = {c.value: (c.value, "async" if c is Cadence.DAY else "ok") for c in Cadence}
    project = make_project(tmp_path, jobs)
    now = rfc3339(T)
    dry = scheduled("tick", str(project.root), "--now", now, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    listed = sorted(tuple(line.split("\t")[:2]) for line in dry.stdout.splitlines())
    first = scheduled("tick", str(project.root), "--now", now)
    assert first.returncode == 0, first.stderr
    ran = sorted((job, period) for job in jobs for period in project.ends(job))
    assert listed == ran
    assert len(ran) == 5
    second = scheduled("tick", str(project.root), "--now", now)
    assert second.returncode == 0
    assert sorted((job, p) for job in jobs for p in project.ends(job)) == ran
    empty = scheduled("tick", str(project.root), "--now", now, "--dry-run")
    assert empty.stdout == ""
    figure("second_tick_runs", 0)
