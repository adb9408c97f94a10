"""Side-by-side benchmarks of the cron engine and the promise proof (issue 5, "Performance").

    next      parse + next run time, per call, on the same expressions and instants:
              `parse_cron(text).next_after(t)` versus cronsim's `next(CronSim(text, t))`
              (target: ratio at most 1.0) and tomodachi's `get_next_datetime(text, t)`
              (target: at least 20x faster, ratio at most 0.05); in UTC, and versus
              cronsim again in Europe/Stockholm
    promise   the promise proof (`prove_cron` for every cadence, `prove_interval`,
              `prove_at`) per expression, UTC and local: target under 50 ms each

Every library parses every call: nothing is cached between calls on either side.
The three engines are timed in the same process, interleaved round by round in
alternating order; a figure is the median over rounds of the mean per call.

Usage (from the repository root; croniter, cronsim and tomodachi installed):

    .venv/bin/python bench/bench_cron.py            # writes bench/results/cron.md
    .venv/bin/python bench/bench_cron.py --quick    # smoke run, prints only

This is a script, not a test: the machine it runs on decides the figures.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone, tzinfo
from importlib import metadata
from pathlib import Path
from zoneinfo import ZoneInfo

from cronsim import CronSim
from tomodachi.helpers.crontab import get_next_datetime

from scheduled_spec.cron import parse_cron
from scheduled_spec.local_periods import _transitions
from scheduled_spec.promise import prove_at, prove_cron, prove_interval

UTC = timezone.utc
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cron.md"
STOCKHOLM = ZoneInfo("Europe/Stockholm")

# The syntax all three engines share: numbers, names, ranges, steps, lists.
EXPRESSIONS = [
    "* * * * *",
    "*/15 * * * *",
    "0 * * * *",
    "30 5 * * *",
    "0 9 * * mon-fri",
    "0 0 * * 0",
    "0 0 1 * *",
    "0 0 1 1 *",
    "0 0 13 * 5",
    "5,35 */2 1-15 * *",
    "30 5 * jan,mar *",
    "0 22 * * 1-5",
    "10-50/10 8-18 * * *",
    "0 0 29 2 *",
    "0 4 1,15 * *",
    "45 23 * dec *",
    "0 */6 * * sat,sun",
    "15 14 1 * *",
    "0 0 L * *",
    "59 23 31 12 *",
]
INSTANTS = [
    datetime(2026, 11, 24, 10, 31, 7, tzinfo=UTC),
    datetime(2027, 2, 28, 23, 59, 59, tzinfo=UTC),
    datetime(2028, 6, 15, 12, 0, tzinfo=UTC),
    datetime(2030, 12, 31, 23, 30, tzinfo=UTC),
]
PROMISE_CRONS = [
    "0 9 * * mon-fri",
    "30 5 * jan,mar Ltue",
    "*/15 * * * *",
    "0 0 L * *",
    "0 0 1-21,29 * *",
    "0 0 */2 * mon",
    "0 0 29 2 *",
    "0 2 * * *",
    "0 12 * * Lwed-fri",
    "0 0-1,3-23 * * *",
]
CADENCES = ["minute", "hour", "day", "week", "month"]


def per_call(action: Callable[[datetime, str], object], pairs: list[tuple[str, datetime]]) -> float:
    gc.collect()
    gc.disable()
    try:
        begin = time.perf_counter()
        for text, after in pairs:
            action(after, text)
        return (time.perf_counter() - begin) / len(pairs)
    finally:
        gc.enable()


def ours(tz: tzinfo) -> Callable[[datetime, str], object]:
    return lambda after, text: parse_cron(text).next_after(after, tz)


def cronsim(tz: tzinfo) -> Callable[[datetime, str], object]:
    return lambda after, text: next(CronSim(text, after.astimezone(tz)))


def tomodachi(after: datetime, text: str) -> object:
    return get_next_datetime(text, after)


def agree(pairs: list[tuple[str, datetime]]) -> tuple[int, int]:
    """How many calls give the same instant as ours: (cronsim, tomodachi)."""
    same_cronsim = same_tomodachi = 0
    for text, after in pairs:
        mine = parse_cron(text).next_after(after)
        same_cronsim += mine == next(CronSim(text, after))
        same_tomodachi += mine == get_next_datetime(text, after)
    return same_cronsim, same_tomodachi


def bench_next(rounds: int) -> tuple[list[list[str]], str]:
    pairs = [(text, t) for text in EXPRESSIONS for t in INSTANTS]
    contenders: dict[str, Callable[[datetime, str], object]] = {
        "ours (UTC)": ours(UTC),
        "cronsim (UTC)": cronsim(UTC),
        "tomodachi (UTC)": tomodachi,
        "ours (Europe/Stockholm)": ours(STOCKHOLM),
        "cronsim (Europe/Stockholm)": cronsim(STOCKHOLM),
    }
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for action in contenders.values():  # warm-up
        per_call(action, pairs[:8])
    names = list(contenders)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            samples[name].append(per_call(contenders[name], pairs))
    med = {name: statistics.median(values) for name, values in samples.items()}
    same_cronsim, same_tomodachi = agree(pairs)

    def row(mine: str, peer: str, target: str, limit: float) -> list[str]:
        ratio = med[mine] / med[peer]
        verdict = "met" if ratio <= limit else "MISSED"
        return [
            f"{mine} vs {peer}",
            f"{med[mine] * 1e6:.1f} µs",
            f"{med[peer] * 1e6:.1f} µs",
            f"{ratio:.3f} ({1 / ratio:.1f}x faster)",
            f"{target}: {verdict}",
        ]

    rows = [
        row("ours (UTC)", "cronsim (UTC)", "<= 1.0", 1.0),
        row("ours (UTC)", "tomodachi (UTC)", "<= 0.05 (20x)", 0.05),
        row("ours (Europe/Stockholm)", "cronsim (Europe/Stockholm)", "<= 1.0", 1.0),
    ]
    note = (
        f"{len(pairs)} calls per round ({len(EXPRESSIONS)} expressions x {len(INSTANTS)}"
        f" instants), {rounds} rounds. Same instant as ours: cronsim {same_cronsim}/{len(pairs)},"
        f" tomodachi {same_tomodachi}/{len(pairs)}."
    )
    spread = "\n".join(
        f"- {name}: min {min(v) * 1e6:.1f} µs, median {statistics.median(v) * 1e6:.1f} µs,"
        f" max {max(v) * 1e6:.1f} µs"
        for name, v in samples.items()
    )
    return rows, f"{note}\n\n{spread}"


def bench_promise(repeats: int) -> tuple[list[list[str]], bool]:
    start = datetime(2026, 11, 24, 1, 35, tzinfo=UTC)
    jobs: list[tuple[str, Callable[[], object]]] = []
    for zone in (None, STOCKHOLM):
        where = "UTC" if zone is None else "Europe/Stockholm"
        for text in PROMISE_CRONS:
            for every in CADENCES:
                jobs.append(
                    (
                        f"cron {where}",
                        lambda t=text, e=every, z=zone: prove_cron(t, e, start=start, tz=z),
                    )
                )
        for seconds in (1.0, 61.0, 5400.0, 86_401.0, 2_505_600.0):
            for every in CADENCES:
                jobs.append(
                    (
                        f"interval {where}",
                        lambda s=seconds, e=every, z=zone: prove_interval(s, e, start=start, tz=z),
                    )
                )
        for at, every in (
            (":30", "minute"),
            (":15", "hour"),
            ("02:30", "day"),
            ("sun 02:30", "week"),
            ("01 02:30", "month"),
        ):
            jobs.append(
                (f"at {where}", lambda a=at, e=every, z=zone: prove_at(a, e, start=start, tz=z))
            )
    _transitions.cache_clear()
    cold_begin = time.perf_counter()
    prove_cron("0 9 * * mon-fri", "day", start=start, tz=STOCKHOLM)
    cold = time.perf_counter() - cold_begin
    times: dict[str, list[float]] = {}
    for _ in range(repeats):
        for kind, job in jobs:
            begin = time.perf_counter()
            job()
            times.setdefault(kind, []).append(time.perf_counter() - begin)
    rows = []
    worst = 0.0
    for kind, values in times.items():
        worst = max(worst, *values)
        rows.append(
            [
                kind,
                str(len(values) // repeats),
                f"{statistics.median(values) * 1e3:.2f} ms",
                f"{max(values) * 1e3:.2f} ms",
                "met" if max(values) < 0.05 else "MISSED",
            ]
        )
    rows.append(
        [
            "cron Europe/Stockholm, cold (DST transitions not cached yet)",
            "1",
            f"{cold * 1e3:.2f} ms",
            f"{cold * 1e3:.2f} ms",
            "met" if cold < 0.05 else "MISSED",
        ]
    )
    return rows, worst < 0.05 and cold < 0.05


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def environment() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, read-only
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("cronsim", "tomodachi", "croniter")
    )
    return (
        f"- commit {commit or 'unknown'}; Python {platform.python_version()}"
        f" ({platform.machine()}, {platform.system()})\n- peers: {versions}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds; print only")
    args = parser.parse_args()
    rounds, repeats = (3, 1) if args.quick else (15, 5)
    next_rows, next_note = bench_next(rounds)
    promise_rows, promise_ok = bench_promise(repeats)
    report = "\n\n".join(
        [
            "# Cron engine and promise proof: benchmark results",
            (
                "Reproduce: `.venv/bin/python bench/bench_cron.py` (from the repository root,"
                " with croniter, cronsim and tomodachi installed). Ratios are ours / peer:"
                " below 1 means we are faster."
            ),
            "## Parse + next run, per call (median of per-round means)",
            markdown(["Comparison", "Ours", "Peer", "Ratio", "Target"], next_rows),
            next_note,
            "## Promise proof, per expression and cadence",
            markdown(["Proof", "Cases", "Median", "Max", "Target < 50 ms"], promise_rows),
            "## Environment",
            environment(),
        ]
    )
    print(report)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(report + "\n", encoding="utf-8")
    met = all(row[-1].endswith("met") for row in next_rows) and promise_ok
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
