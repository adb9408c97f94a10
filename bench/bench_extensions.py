"""Extension schedules in the provider versus APScheduler 3 (issue 5), side by side.

    at         1,000 jobs with `at = ":SS"` (every minute, the same second) due at once,
               inline runner (10 threads), p99 lateness, versus APScheduler 3
               BackgroundScheduler (10 threads) with CronTrigger(second=SS)
    interval   1,000 jobs with `interval = 1` for 10 s (phases hashed across the second),
               p99 lateness of every tick from 2 s after the start (ours runs each job at
               first sight, a burst the peer has not), versus APScheduler
               IntervalTrigger(seconds=1) starting 2 s after its start
    catch-up   ten years of downtime of a minutely cron in Europe/Stockholm: the time to
               decide what is due and count the missed runs (5.26 million; reported)

Usage (from the repository root, with the `bench` extra installed):

    .venv/bin/python bench/bench_extensions.py            # writes bench/results/extensions.md
    .venv/bin/python bench/bench_extensions.py --quick    # smoke run: small sizes, one round

Lateness is the run's start (inside the job) minus its scheduled instant. A script, not a
test: the machine it runs on decides the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_provider import p99

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "extensions.md"
UTC = timezone.utc

JOBS_MODULE = """
import time
from datetime import datetime
RECORDS = []
def record():
    from scheduled_spec.provider.runner import current_run  # inline runs only
    at = datetime.fromisoformat(current_run().at.replace("Z", "+00:00")).timestamp()
    RECORDS.append((at, time.time() - at))
"""


def _project(root: Path, tables: list[str]) -> Path:
    root.mkdir(parents=True)
    (root / "bench_ext_jobs.py").write_text(JOBS_MODULE)
    (root / "pyproject.toml").write_text("\n".join(tables))
    return root


def ours(root: Path, wanted: int, seconds: float | None = None, settle: float = 0.0) -> list[float]:
    """Run the project's provider (inline) until `wanted` runs, or for `seconds` more than
    `settle`; the lateness of runs scheduled from `settle` seconds after the start on."""
    from scheduled_spec.clock import SystemClock  # noqa: PLC0415
    from scheduled_spec.loader import load  # noqa: PLC0415
    from scheduled_spec.provider.config import ProviderConfig  # noqa: PLC0415
    from scheduled_spec.provider.inline import InlineRunner  # noqa: PLC0415
    from scheduled_spec.provider.ledger import open_ledger  # noqa: PLC0415
    from scheduled_spec.provider.loop import Provider  # noqa: PLC0415

    sys.path.insert(0, str(root))
    import bench_ext_jobs  # type: ignore[import-not-found]  # noqa: PLC0415

    bench_ext_jobs.RECORDS.clear()
    clock = SystemClock()
    ledger = open_ledger(f"sqlite:///{root / 'ledger.sqlite3'}?synchronous=normal", clock=clock)
    provider = Provider(
        load(root), ledger, InlineRunner(10), clock, ProviderConfig(max_parallel=1 << 30)
    )
    thread = threading.Thread(target=provider.run)
    begin = time.time()
    thread.start()
    deadline = time.monotonic() + settle + (seconds or 120)
    while time.monotonic() < deadline and (seconds or len(bench_ext_jobs.RECORDS) < wanted):
        time.sleep(0.05)
    provider.stop()
    thread.join()
    ledger.close()
    sys.path.remove(str(root))
    del sys.modules["bench_ext_jobs"]
    return [late for at, late in bench_ext_jobs.RECORDS if at >= begin + settle]


def at_ours(n: int, tmp: Path) -> list[float]:
    second = (int(time.time()) + 4) % 60
    tables = [
        f'[tool.scheduled.at-{i}]\nevery = "minute"\nentrypoint = "bench_ext_jobs:record"\n'
        f'at = ":{second:02d}"\n'
        for i in range(n)
    ]
    root = _project(tmp / f"at-{time.time_ns()}", tables)
    return ours(root, n)


def at_peer(n: int, tmp: Path) -> list[float]:
    from apscheduler.schedulers.background import BackgroundScheduler  # noqa: PLC0415
    from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415

    instant = int(time.time()) + 4
    records: list[float] = []
    scheduler = BackgroundScheduler(timezone=UTC)
    for i in range(n):
        scheduler.add_job(
            lambda: records.append(time.time() - instant),
            CronTrigger(second=instant % 60, timezone=UTC),
            id=f"j{i}",
            misfire_grace_time=None,
        )
    scheduler.start()
    while len(records) < n:
        time.sleep(0.05)
    scheduler.shutdown(wait=True)
    return records[:n]


def interval_ours(n: int, tmp: Path, seconds: float) -> list[float]:
    tables = [
        f'[tool.scheduled.beat-{i}]\nevery = "minute"\nentrypoint = "bench_ext_jobs:record"\n'
        "interval = 1\n"
        for i in range(n)
    ]
    root = _project(tmp / f"interval-{time.time_ns()}", tables)
    # At first sight each job runs its current minute's latest tick at once (SPEC.md
    # 10.17.2): a burst the peer does not have. Measure the ticks from 2 s on.
    return ours(root, 0, seconds, settle=2.0)


def interval_peer(n: int, tmp: Path, seconds: float) -> list[float]:
    from apscheduler.schedulers.background import BackgroundScheduler  # noqa: PLC0415
    from apscheduler.triggers.interval import IntervalTrigger  # noqa: PLC0415

    # Ticks on whole seconds (APScheduler 3 does not tell a job its scheduled instant):
    # a tick's lateness is its start's fraction of a second.
    records: list[float] = []
    scheduler = BackgroundScheduler(timezone=UTC)
    start = datetime.fromtimestamp(int(time.time()) + 2, UTC)
    for i in range(n):
        scheduler.add_job(
            lambda: records.append(time.time() % 1),
            IntervalTrigger(seconds=1, start_date=start, timezone=UTC),
            id=f"j{i}",
            misfire_grace_time=None,
        )
    scheduler.start()
    time.sleep(seconds + 2)
    scheduler.shutdown(wait=True)
    return records


def catch_up_seconds() -> tuple[float, int]:
    from scheduled_spec.models import Job  # noqa: PLC0415
    from scheduled_spec.provider.extended import plan_runs  # noqa: PLC0415

    job = Job.model_validate(
        {"id": "tick", "entrypoint": "a:b", "every": "minute", "cron": "* * * * *",
         "timezone": "Europe/Stockholm"}
    )  # fmt: skip
    began = time.perf_counter()
    decided = plan_runs(
        job, datetime(2016, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    )
    assert decided.missed is not None
    return time.perf_counter() - began, decided.missed[2]


def alternate(rounds: int, sides: dict[str, Any], *args: Any) -> dict[str, list[float]]:
    """p99 of each side per round, in alternating order."""
    out: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            out[name].append(p99(sides[name](*args)))
    return out


def _rounded(values: list[float]) -> list[float]:
    return [round(x, 4) for x in values]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, seconds, rounds = (200, 4.0, 1) if args.quick else (1000, 10.0, 3)
    with tempfile.TemporaryDirectory() as tmp:
        at = alternate(rounds, {"ours": at_ours, "peer": at_peer}, n, Path(tmp))
        ticks = alternate(
            rounds, {"ours": interval_ours, "peer": interval_peer}, n, Path(tmp), seconds
        )
    decide, missed = catch_up_seconds()
    quick = " --quick" if args.quick else ""
    rows = [
        (f"p99 lateness, {n} `at` jobs due in one second", at),
        (f"p99 lateness, {n} jobs with `interval = 1` over {seconds:g} s", ticks),
    ]
    lines = [
        "# Extension schedules in the provider (issue 5)",
        "",
        (
            f"Command: `.venv/bin/python bench/bench_extensions.py{quick}`"
            f" on Python {sys.version.split()[0]}, APScheduler {metadata.version('apscheduler')},"
            f" {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}. Inline runner, 10 threads, on"
            " both sides; medians of per-round p99s, rounds in alternating order."
        ),
        "",
        "| measure | ours | APScheduler 3 | ratio |",
        "|---|---|---|---|",
    ]
    for name, r in rows:
        o, p = statistics.median(r["ours"]), statistics.median(r["peer"])
        lines.append(f"| {name} | {o * 1000:.1f} ms | {p * 1000:.1f} ms | {o / p:.2f} |")
    lines += [
        "",
        (
            f"Catch-up after ten years down, minutely cron in Europe/Stockholm: {missed:,} missed"
            f" runs counted (one gap row) in {decide:.2f} s."
        ),
        "",
        "Rounds (p99 seconds): "
        + "; ".join(
            f"{name}: ours {_rounded(r['ours'])}, peer {_rounded(r['peer'])}" for name, r in rows
        ),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
