"""The chaos harness of the tests, run longer: the promise's figures per scenario (issue 11).

Each scenario starts real `scheduled run` processes on one ledger, with jobs of
`interval = 1` longer than their interval (queued, skipped, side by side) and quick ones,
and injects faults at points drawn from a seed: kill -9 and restart, SIGTERM and restart,
SIGSTOP past the lease then SIGCONT, and on PostgreSQL `pg_terminate_backend` of the
replicas' connections (tests/provider/chaos.py says how the figures are counted):

    sqlite-1       one provider on an SQLite file
    sqlite-3       three providers on one SQLite file
    postgresql-3   three replicas on one PostgreSQL schema

Usage (from the repository root; PostgreSQL at SCHEDULED_BENCH_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/test, a fresh schema per run, dropped after):

    .venv/bin/python bench/bench_chaos.py                         # all three, 120 s of faults each
    .venv/bin/python bench/bench_chaos.py sqlite-3 --seconds 600 --seed 7
    .venv/bin/python bench/bench_chaos.py --quick                 # 15 s each

It prints one line of figures per scenario and the command that reproduces it (the same
fault schedule; where in a run each fault lands depends on the machine). The exit
status is 1 when a scenario lost a run, overlapped two attempts or ran a period twice
without a crash, 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the harness lives with the tests

from tests.provider.chaos import Result, Scenario, mixed_jobs, run_scenario  # noqa: E402

URL = os.environ.get("SCHEDULED_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCENARIOS = {
    "sqlite-1": (1, ("kill", "term", "stop")),
    "sqlite-3": (3, ("kill", "term", "stop")),
    "postgresql-3": (3, ("kill", "term", "stop", "pg-terminate")),
}
COLUMNS = (
    "expected",
    "ran",
    "skipped",
    "missed",
    "lost",
    "overlaps",
    "duplicates_without_a_crash",
    "duplicates_after_a_crash",
)


def run(name: str, seconds: float, seed: int, mean_gap: float) -> Result:
    providers, faults = SCENARIOS[name]
    scenario = Scenario(
        name,
        mixed_jobs(),
        providers=providers,
        seconds=seconds,
        seed=seed,
        faults=faults,
        mean_gap=mean_gap,
    )
    tmp = Path(tempfile.mkdtemp(prefix=f"chaos-{name}-"))  # kept: its logs explain a failure
    if not name.startswith("postgresql"):
        return run_scenario(scenario, tmp)
    import psycopg  # noqa: PLC0415 - only this scenario needs it

    schema = f"chaos_{secrets.token_hex(4)}"
    url = f"{URL}{'&' if '?' in URL else '?'}schema={schema}"
    try:
        return run_scenario(scenario, tmp, ledger_url=url, server_url=URL)
    finally:
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", choices=[*SCENARIOS, []])
    parser.add_argument("--seconds", type=float, default=None, help="seconds of faults")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--mean-gap", type=float, default=2.0, help="mean seconds between faults")
    parser.add_argument("--quick", action="store_true", help="15 s of faults per scenario")
    args = parser.parse_args()
    seconds = args.seconds or (15.0 if args.quick else 120.0)
    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    broken = 0
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {seconds:g} s of faults each")
    for name in args.which or list(SCENARIOS):
        began = time.monotonic()
        result = run(name, seconds, seed, args.mean_gap)
        f = result.figures
        figures = ", ".join(f"{c} {getattr(f, c)}" for c in COLUMNS)
        print(f"\n{name} (seed {seed}, {time.monotonic() - began:.0f} s): {figures}")
        print(f"  faults {f.faults}; runs inside a missed row {f.runs_inside_missed}")
        print(f"  unexpected exits {f.unexpected_exits}, unclean exits {f.unclean_exits}")
        if f.lost:
            print(f"  lost, first of each job: {f.lost_examples}")
        print(f"  logs: {result.project.root}")
        print(
            f"  reproduce: .venv/bin/python bench/bench_chaos.py {name}"
            f" --seconds {seconds:g} --seed {seed} --mean-gap {args.mean_gap:g}"
        )
        broken += bool(f.lost or f.overlaps or f.duplicates_without_a_crash)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
