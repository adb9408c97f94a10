"""The promise under chaos: real `scheduled run` processes on one ledger, faults at random
points drawn from a seed (the harness and its oracle: tests/provider/chaos.py).

Jobs of `interval = 1` that take longer than their interval (periods queue behind a running
attempt; one job skips, one runs side by side) and quick ones. Faults: kill -9 and restart,
SIGTERM and restart, SIGSTOP past the lease then SIGCONT, and on PostgreSQL
``pg_terminate_backend`` of the replicas' connections. Each test asserts lost == 0,
overlaps == 0 and duplicates_without_a_crash == 0, and writes its figures to
SCHEDULED_TEST_FIGURES when set.

The three scenarios run at once (their processes mostly wait on the clock), so the module
takes the time of one: 12 s of faults by default. The soak:
``SCHEDULED_TEST_CHAOS_SECONDS=600`` (seconds of faults per scenario);
``SCHEDULED_TEST_CHAOS_SEED=N`` replays another fault schedule. A failure prints the
figures and the command that reproduces it; ``bench/bench_chaos.py`` prints the same
figures for longer runs, one scenario at a time.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from functools import partial

import pytest

from tests.provider.chaos import (
    Result,
    Scenario,
    at_once,
    env_float,
    env_seed,
    mixed_jobs,
    run_scenario,
    selected,
)
from tests.provider.postgres import ENV, execute, server_url, with_schema

# One worker runs the whole module: its fixture starts the selected scenarios together.
pytestmark = pytest.mark.xdist_group("chaos")

SECONDS = env_float("SCHEDULED_TEST_CHAOS_SECONDS", 12.0)
FAULTS = ("kill", "term", "stop")


def _scenario(name: str, providers: int, seed: int, faults: tuple[str, ...]) -> Scenario:
    return Scenario(
        name,
        mixed_jobs(),
        providers=providers,
        seconds=SECONDS,
        seed=env_seed("SCHEDULED_TEST_CHAOS_SEED", seed),
        faults=faults,
        mean_gap=1.5,
    )


SQLITE_1 = _scenario("sqlite-1", 1, 1101, FAULTS)
SQLITE_3 = _scenario("sqlite-3", 3, 1103, FAULTS)
POSTGRESQL_3 = _scenario("postgresql-3", 3, 1203, (*FAULTS, "pg-terminate"))


def _reachable() -> str | None:
    """The PostgreSQL server's URL when one answers (the test itself skips or fails)."""
    url = os.environ.get(ENV, "")
    if not url:
        return None
    try:
        execute(url, "SELECT 1")
    except Exception:  # noqa: BLE001 - any failure: server_url() in the test reports it
        return None
    return url


@pytest.fixture(scope="module")
def scenarios(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Result]]]:
    """The scenarios of the selected tests, started together in threads."""
    wanted = selected(request.session.items, request.module)
    runs: dict[str, Callable[[], Result]] = {}
    for test, scenario in (
        ("test_one_provider_on_sqlite_killed_stopped_and_paused_keeps_the_promise", SQLITE_1),
        ("test_three_providers_on_one_sqlite_file_under_faults_keep_the_promise", SQLITE_3),
    ):
        if test in wanted:
            runs[test] = partial(run_scenario, scenario, tmp_path_factory.mktemp(scenario.name))
    server = _reachable()
    schema = f"chaos_{secrets.token_hex(4)}"
    test = "test_three_replicas_on_postgresql_with_backends_terminated_keep_the_promise"
    if server is not None and test in wanted:
        runs[test] = partial(
            run_scenario,
            POSTGRESQL_3,
            tmp_path_factory.mktemp(POSTGRESQL_3.name),
            ledger_url=with_schema(server, schema),
            server_url=server,
        )
    try:
        with at_once(runs) as started:
            yield started
    finally:
        if server is not None:
            execute(server, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _check(scenarios: dict[str, Future[Result]], request: pytest.FixtureRequest) -> None:
    started = scenarios.get(request.node.originalname)
    if started is None:
        pytest.fail("PostgreSQL did not answer when the scenarios started")
    result = started.result()
    reproduce = (
        f"SCHEDULED_TEST_CHAOS_SEED={result.scenario.seed} SCHEDULED_TEST_CHAOS_SECONDS="
        f"{SECONDS:g} .venv/bin/python -m pytest '{request.node.nodeid}'"
    )
    result.assert_kept(reproduce)
    f = result.figures
    assert f.off_schedule == 0, result.report()  # the oracle's model and the keys agree
    assert f.ran > 0, result.report()


def test_one_provider_on_sqlite_killed_stopped_and_paused_keeps_the_promise(
    scenarios: dict[str, Future[Result]], request: pytest.FixtureRequest
) -> None:
    _check(scenarios, request)


def test_three_providers_on_one_sqlite_file_under_faults_keep_the_promise(
    scenarios: dict[str, Future[Result]], request: pytest.FixtureRequest
) -> None:
    _check(scenarios, request)


def test_three_replicas_on_postgresql_with_backends_terminated_keep_the_promise(
    scenarios: dict[str, Future[Result]], request: pytest.FixtureRequest
) -> None:
    server_url()  # skips without a server; under CI=true, fails instead
    _check(scenarios, request)
