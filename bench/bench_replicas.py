"""Benchmarks of the PostgreSQL ledger for replicas (issue 4, "Performance").

Two measurements, each in one run:

    claims     3 replica processes contend for the same 10,000 due (job, period) pairs,
               each claiming all of them in batches (in its own order): claims per second
               (10,000 / wall time from a common start to the last process done), and
               duplicates (claims won by more than one process; must be 0)
    overhead   what the ledger costs per run, PostgreSQL versus SQLite side by side,
               interleaved round by round: (a) the ledger calls of one run (claim, heartbeat,
               finish), (b) a whole `Provider.tick()` of 200 due jobs with the inline runner,
               per run; medians and ratios

Usage (from the repository root; PostgreSQL at SCHEDULED_BENCH_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/test; each run uses a fresh schema, dropped after):

    .venv/bin/python bench/bench_replicas.py            # both; writes bench/results/replicas.md
    .venv/bin/python bench/bench_replicas.py claims     # one of them; prints only
    .venv/bin/python bench/bench_replicas.py --quick    # smoke run: small sizes, few rounds

This is a script, not a test: the machine it runs on decides the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg

from scheduled_spec.clock import SystemClock
from scheduled_spec.loader import load
from scheduled_spec.provider.clocks import FixedClock
from scheduled_spec.provider.config import ProviderConfig
from scheduled_spec.provider.inline import InlineRunner
from scheduled_spec.provider.ledger import (
    Attempt,
    Claim,
    ClaimRequest,
    State,
    open_ledger,
)
from scheduled_spec.provider.loop import Provider
from scheduled_spec.provider.owner import Owner

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "replicas.md"
URL = os.environ.get("SCHEDULED_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
UTC = timezone.utc
START = 1_780_185_600  # 2026-05-31T00:00:00Z


def _requests(n: int) -> list[Any]:
    # 1,000 jobs x 10 periods: what several providers find due after a catch-up.
    jobs = max(1, n // 10)
    return [
        ClaimRequest(f"job-{i % jobs:05d}", "hour", f"p{i // jobs}", START + i, START + i)
        for i in range(n)
    ]


def worker_claims(url: str, n: int, batch: int, seed: int, start_at: float) -> None:
    """One replica: claim all `n` pairs in batches, in its own order; print what it won."""

    requests = _requests(n)
    random.Random(seed).shuffle(requests)  # noqa: S311 - a benchmark's order, not a secret
    ledger = open_ledger(url, clock=SystemClock())
    owner = Owner.current()
    while time.time() < start_at:
        time.sleep(0.001)
    began = time.perf_counter()
    won = []
    for i in range(0, n, batch):
        results = ledger.claim(requests[i : i + batch], owner, 120.0)
        won += [(r.job_id, r.period_key) for r in results if isinstance(r, Claim)]
    elapsed = time.perf_counter() - began
    ledger.close()
    print(json.dumps({"won": won, "elapsed": elapsed, "done": time.time()}))


def _schema(url: str) -> tuple[str, str]:
    name = f"bench_{secrets.token_hex(4)}"
    return f"{url}{'&' if '?' in url else '?'}schema={name}", name


def _drop(name: str) -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def bench_claims(n: int, batch: int, processes: int = 3) -> dict[str, Any]:
    url, name = _schema(URL)
    open_ledger(url, clock=SystemClock()).close()  # schema created before the race
    start_at = time.time() + 2.0  # every process imported and connected by then
    try:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    url,
                    str(n),
                    str(batch),
                    str(seed),
                    repr(start_at),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for seed in range(processes)
        ]
        outs = [json.loads(p.communicate()[0]) for p in procs]
        assert all(p.returncode == 0 for p in procs)

        with psycopg.connect(URL, autocommit=True) as conn:
            row = conn.execute(f'SELECT count(*) FROM "{name}".runs').fetchone()  # noqa: S608
        rows = row[0] if row else 0
    finally:
        _drop(name)
    won = [tuple(w) for out in outs for w in out["won"]]
    wall = max(out["done"] for out in outs) - start_at
    return {
        "pairs": n,
        "processes": processes,
        "batch": batch,
        "wall": wall,
        "claims_per_second": n / wall,
        "won_per_process": [len(out["won"]) for out in outs],
        "duplicates": len(won) - len(set(won)),
        "unclaimed": n - len(set(won)),
        "rows": rows,
    }


def _ledger_round(url: str, runs: int) -> float:
    """Seconds per run of the ledger calls one run makes: claim, heartbeat, finish."""

    ledger = open_ledger(url, clock=SystemClock())
    owner = Owner.current()
    requests = _requests(runs)  # a fresh ledger each round: every one is a new claim
    began = time.perf_counter()
    for req in requests:
        (claim,) = ledger.claim([req], owner, 120.0)
        assert isinstance(claim, Claim)
        ledger.heartbeat([claim], 120.0)
        ledger.finish(claim, Attempt(1, State.SUCCEEDED, time.time(), 0.001))
    elapsed = time.perf_counter() - began
    ledger.close()
    return elapsed / runs


def _tick_round(url: str, root: Path) -> float:
    """Seconds per run of one `Provider.tick()` over the project's 200 due jobs, inline."""

    project = load(root)
    clock = FixedClock(datetime.fromtimestamp(START + 86_399, UTC))
    ledger = open_ledger(url, clock=clock)
    provider = Provider(project, ledger, InlineRunner(10), clock, ProviderConfig())
    began = time.perf_counter()
    outcomes = provider.tick()
    elapsed = time.perf_counter() - began
    ledger.close()
    assert len(outcomes) == len(project.jobs), outcomes
    return elapsed / len(outcomes)


def bench_overhead(rounds: int, runs: int, jobs: int) -> dict[str, Any]:
    results: dict[str, list[float]] = {
        k: [] for k in ("pg_calls", "sqlite_calls", "pg_tick", "sqlite_tick")
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        (root / "bench_noop.py").write_text("def noop():\n    pass\n")
        (root / "pyproject.toml").write_text(
            "\n".join(
                f'[tool.scheduled.job-{i}]\nevery = "day"\nentrypoint = "bench_noop:noop"\n'
                for i in range(jobs)
            )
        )
        for r in range(rounds):
            order = ("pg", "sqlite") if r % 2 == 0 else ("sqlite", "pg")
            for backend in order:
                if backend == "pg":
                    url, name = _schema(URL)
                else:
                    name = ""
                    url = f"sqlite:///{Path(tmp) / f'ledger-{r}.sqlite3'}"  # synchronous=FULL
                try:
                    results[f"{backend}_calls"].append(_ledger_round(url, runs))
                    results[f"{backend}_tick"].append(_tick_round(url, root))
                finally:
                    if name:
                        _drop(name)
    return results


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    with psycopg.connect(URL) as conn:
        server = conn.info.parameter_status("server_version")
    lines = [
        "# Replica benchmarks: the PostgreSQL ledger (issue 4)",
        "",
        (
            f"Command: `.venv/bin/python bench/bench_replicas.py{' --quick' if args.quick else ''}`"
            f" on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, PostgreSQL {server}"
            f" on loopback, psycopg {psycopg.__version__} ({psycopg.pq.__impl__}),"
            f" {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}."
        ),
        "",
    ]
    if "claims" in results:
        c = results["claims"]
        lines += [
            "## Claims with 3 replicas contending",
            "",
            "| measure | value |",
            "|---|---|",
            f"| due (job, period) pairs | {c['pairs']:,} |",
            f"| replica processes, batch size | {c['processes']}, {c['batch']} |",
            f"| wall time, common start to last process done | {c['wall']:.2f} s |",
            f"| claims per second | {c['claims_per_second']:,.0f} |",
            f"| claims won by each process | {', '.join(f'{w:,}' for w in c['won_per_process'])} |",
            f"| duplicates (one pair won twice) | {c['duplicates']} |",
            f"| pairs nobody won | {c['unclaimed']} |",
            f"| ledger rows | {c['rows']:,} |",
            "",
        ]
    if "overhead" in results:
        o = results["overhead"]
        pc, sc = _median(o["pg_calls"]), _median(o["sqlite_calls"])
        pt, st = _median(o["pg_tick"]), _median(o["sqlite_tick"])
        lines += [
            "## Per-run overhead, PostgreSQL versus SQLite",
            "",
            (
                f"Medians of {len(o['pg_calls'])} interleaved rounds; SQLite with the provider's"
                " default `synchronous=FULL` on this machine's disk, PostgreSQL on loopback."
            ),
            "",
            "| measure | PostgreSQL | SQLite | ratio |",
            "|---|---|---|---|",
            (
                f"| ledger calls of one run (claim, heartbeat, finish), {args.runs} runs | "
                f"{pc * 1000:.2f} ms | {sc * 1000:.2f} ms | {pc / sc:.2f} |"
            ),
            (
                f"| `Provider.tick()` of {args.jobs} due jobs (inline runner), per run | "
                f"{pt * 1000:.2f} ms | {st * 1000:.2f} ms | {pt / st:.2f} |"
            ),
            "",
        ]
    lines += ["Rounds (seconds):", ""]
    for name, r in results.items():
        data = {k: [round(x, 5) for x in v] if isinstance(v, list) else v for k, v in r.items()}
        lines.append(f"- {name}: " + json.dumps(data))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", choices=["claims", "overhead", []])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--worker", nargs=5, metavar=("URL", "N", "BATCH", "SEED", "START"))
    args = parser.parse_args()
    if args.worker:
        url, n, batch, seed, start_at = args.worker
        worker_claims(url, int(n), int(batch), int(seed), float(start_at))
        return
    # The bench's fixed clock is far from the server's: the skew warning is expected here.
    logging.getLogger("scheduled_spec").setLevel(logging.ERROR)
    which = args.which or ["claims", "overhead"]
    args.runs, args.jobs = (100, 50) if args.quick else (500, 200)
    results: dict[str, Any] = {}
    if "claims" in which:
        results["claims"] = bench_claims(1_000 if args.quick else 10_000, 100)
    if "overhead" in which:
        results["overhead"] = bench_overhead(2 if args.quick else 5, args.runs, args.jobs)
    text = report(results, args)
    print(text)
    output = args.output or (RESULTS if not args.which and not args.quick else None)
    if output is not None:
        output.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
