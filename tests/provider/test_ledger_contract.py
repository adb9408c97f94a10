"""The ledger contract: every backend passes these tests unchanged (STYLE.md rule 7).

Backends are the parameters of the `backend` fixture: SQLite, and PostgreSQL when
``SCHEDULED_TEST_POSTGRES_URL`` names a server (a fresh schema per test, dropped after).

Time passes through `elapse`: the SQLite ledger's clock is the provider's (a FakeClock here),
the PostgreSQL ledger's is the server's, which no test can move; there, `elapse` ages every
stored time instead, which is the same thing for everything a ledger compares.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scheduled_spec.provider.ledger import (
    Attempt,
    Claim,
    ClaimRequest,
    Gap,
    Kind,
    Ledger,
    RunRecord,
    State,
    open_ledger,
)
from scheduled_spec.provider.owner import Owner
from tests.provider.fakes import FakeClock
from tests.provider.postgres import execute, fresh_schema

BACKENDS = ["sqlite", "postgres"]
LEASE = 60.0
DAY = 86_400
START = 1_767_225_600  # 2026-01-01T00:00:00Z

OpenLedger = Callable[[], Ledger]
Elapse = Callable[[float], None]


@dataclass
class Backend:
    """One fresh ledger of a backend: open connections to it; make time pass for it."""

    url: str
    clock: FakeClock
    server: str | None = None  # PostgreSQL: the server's URL, to age rows
    opened: list[Ledger] = field(default_factory=list)

    def connect(self) -> Ledger:
        ledger = open_ledger(self.url, clock=self.clock)
        self.opened.append(ledger)
        return ledger

    def close(self) -> None:
        for ledger in self.opened:
            ledger.close()

    def elapse(self, seconds: float) -> None:
        if self.server is None:
            self.clock.advance(seconds)
            return
        schema = self.url.rsplit("schema=", 1)[1]
        execute(
            self.server,
            f'UPDATE "{schema}".runs SET lease_until = lease_until - %s,'  # noqa: S608
            " created_at = created_at - %s, finished_at = finished_at - %s",
            seconds,
            seconds,
            seconds,
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Backend]:
    """One fresh ledger of the parametrized backend."""
    if request.param == "sqlite":
        made = Backend(f"sqlite:///{tmp_path / 'ledger.sqlite3'}?synchronous=normal", clock)
        yield made
        made.close()
        return
    with fresh_schema() as (url, server):
        made = Backend(url, clock, server)
        yield made
        made.close()


@pytest.fixture
def connect(backend: Backend) -> OpenLedger:
    """Open (another connection to) the fresh ledger."""
    return backend.connect


@pytest.fixture
def elapse(backend: Backend) -> Elapse:
    """Let `seconds` pass on the ledger's clock."""
    return backend.elapse


@pytest.fixture
def ledger(connect: OpenLedger) -> Ledger:
    return connect()


def request(job: str = "nightly", day: int = 0, offset: int = 3_600) -> ClaimRequest:
    start = START + day * DAY
    key = f"2026-01-{day + 1:02d}"
    return ClaimRequest(job, "day", key, start, start + offset)


def owner(nonce: str) -> Owner:
    return Owner("test-host", 1, "", nonce)


def ok(number: int = 1, outcome: State = State.SUCCEEDED, error: str | None = None) -> Attempt:
    return Attempt(number, outcome, float(START), 0.5, error, "out")


def claim_of(result: Claim | RunRecord) -> Claim:
    assert isinstance(result, Claim), result
    return result


def test_claim_inserts_once_then_returns_the_existing_row(ledger: Ledger) -> None:
    first = claim_of(ledger.claim([request()], owner("a"), LEASE)[0])
    (second,) = ledger.claim([request()], owner("b"), LEASE)
    assert isinstance(second, RunRecord)
    assert second.run_id == first.run_id
    assert second.state is State.RUNNING
    assert second.owner is not None
    assert second.owner.endswith(":a")
    assert first.fence == 1
    assert first.attempt == 0


def test_claims_from_two_connections_insert_one_row(connect: OpenLedger) -> None:
    one, two = connect(), connect()
    results = [
        one.claim([request()], owner("a"), LEASE)[0],
        two.claim([request()], owner("b"), LEASE)[0],
    ]
    assert sum(isinstance(r, Claim) for r in results) == 1


def test_claim_batch_returns_one_result_per_request_in_order(ledger: Ledger) -> None:
    ledger.claim([request(day=1)], owner("a"), LEASE)
    results = ledger.claim([request(day=0), request(day=1), request(day=2)], owner("b"), LEASE)
    assert [type(r).__name__ for r in results] == ["Claim", "RunRecord", "Claim"]


def test_finished_run_is_never_claimed_again(ledger: Ledger, elapse: Elapse) -> None:
    claim = claim_of(ledger.claim([request()], owner("a"), LEASE)[0])
    assert ledger.finish(claim, ok())
    elapse(10 * LEASE)
    (again,) = ledger.claim([request()], owner("b"), LEASE)
    assert isinstance(again, RunRecord)
    assert again.state is State.SUCCEEDED


def test_expired_lease_is_taken_over_with_a_new_fence(ledger: Ledger, elapse: Elapse) -> None:
    old = claim_of(ledger.claim([request()], owner("a"), LEASE)[0])
    elapse(LEASE + 1)
    new = claim_of(ledger.claim([request()], owner("b"), LEASE)[0])
    assert new.taken_over
    assert new.run_id == old.run_id
    assert new.fence == old.fence + 1
    assert ledger.heartbeat([old], LEASE) == [old]
    assert not ledger.finish(old, ok())
    assert ledger.finish(new, ok())
    (row,) = [e.run for e in ledger.history()]
    assert row.state is State.SUCCEEDED
    assert row.fence == new.fence


def test_heartbeat_keeps_a_lease_alive(ledger: Ledger, elapse: Elapse) -> None:
    claim = claim_of(ledger.claim([request()], owner("a"), LEASE)[0])
    for _ in range(5):
        elapse(LEASE / 2)
        assert ledger.heartbeat([claim], LEASE) == []
    (held,) = ledger.claim([request()], owner("b"), LEASE)
    assert isinstance(held, RunRecord)


def test_abandoned_run_is_claimable_at_once(ledger: Ledger) -> None:
    claim = claim_of(ledger.claim([request()], owner("a"), LEASE)[0])
    assert ledger.finish(claim, ok(outcome=State.ABANDONED, error="stopped at shutdown"))
    assert [r.state for r in ledger.unfinished()] == [State.ABANDONED]
    again = claim_of(ledger.claim([request()], owner("b"), LEASE)[0])
    assert again.taken_over
    assert again.attempt == 1
    assert again.fence == 2


def test_take_over_needs_the_fence_it_saw(ledger: Ledger) -> None:
    ledger.claim([request()], owner("a"), LEASE)
    (seen,) = ledger.unfinished()
    first = ledger.take_over(seen, owner("b"), LEASE)
    assert first is not None
    assert first.fence == seen.fence + 1
    assert ledger.take_over(seen, owner("c"), LEASE) is None


def test_record_attempt_counts_attempts_under_the_fence(ledger: Ledger) -> None:
    claim = claim_of(ledger.claim([request()], owner("a"), LEASE)[0])
    assert ledger.record_attempt(claim, ok(1, State.FAILED, "ValueError: boom"))
    assert ledger.finish(claim, ok(2))
    entries = ledger.history()
    assert [(e.attempt.attempt, e.attempt.outcome) for e in entries if e.attempt] == [
        (2, State.SUCCEEDED),
        (1, State.FAILED),
    ]
    assert entries[-1].attempt is not None
    assert entries[-1].attempt.error == "ValueError: boom"
    assert entries[0].run.attempt == 2


def test_latest_is_the_newest_period_of_any_non_manual_row(ledger: Ledger) -> None:
    assert ledger.latest() == {}
    ledger.claim([request(day=1)], owner("a"), LEASE)
    ledger.record_gap(
        Gap("nightly", "day", "2026-01-03", START + 2 * DAY, "2026-01-05", START + 4 * DAY, 3)
    )
    ledger.record_skipped(request("other", day=7))
    ledger.claim_manual(request(day=20), owner("a"), LEASE)
    latest = ledger.latest()
    assert latest["nightly"].period_start == START + 4 * DAY
    assert latest["nightly"].every == "day"
    assert latest["other"].period_start == START + 7 * DAY


def test_a_gap_is_one_row_however_long(ledger: Ledger) -> None:
    gap = Gap(
        "every-minute",
        "minute",
        "2026-01-01T00:01",
        START + 60,
        "2036-01-01T00:00",
        START + 315_532_800,
        5_258_880,
    )
    ledger.record_gap(gap)
    ledger.record_gap(gap)
    (entry,) = ledger.history()
    assert entry.run.kind is Kind.MISSED
    assert entry.run.missed_count == 5_258_880
    assert entry.run.last_period_key == "2036-01-01T00:00"


def test_manual_runs_have_their_own_identity(ledger: Ledger) -> None:
    scheduled = claim_of(ledger.claim([request()], owner("a"), LEASE)[0])
    one = ledger.claim_manual(request(), owner("a"), LEASE)
    two = ledger.claim_manual(request(), owner("a"), LEASE)
    assert len({scheduled.run_id, one.run_id, two.run_id}) == 3
    assert one.kind is Kind.MANUAL
    assert ledger.finish(one, ok())
    assert [r.run_id for r in ledger.unfinished()] == [scheduled.run_id]


def test_history_is_newest_first_filtered_and_limited(ledger: Ledger, elapse: Elapse) -> None:
    for day in range(5):
        ledger.claim([request(day=day), request("other", day=day)], owner("a"), LEASE)
        elapse(DAY)
    keys = [e.run.period_key for e in ledger.history(job_id="nightly", limit=3)]
    assert keys == ["2026-01-05", "2026-01-04", "2026-01-03"]
    assert {e.run.job_id for e in ledger.history(job_id="other")} == {"other"}


def test_prune_keeps_unfinished_rows_and_each_jobs_newest(ledger: Ledger, elapse: Elapse) -> None:
    for day in range(3):
        claim = claim_of(ledger.claim([request(day=day)], owner("a"), LEASE)[0])
        ledger.finish(claim, ok())
    ledger.claim([request("running", day=0)], owner("a"), LEASE)
    elapse(100 * DAY)
    assert ledger.prune(90, {"nightly", "running"}) == 2
    assert sorted(e.run.period_key for e in ledger.history()) == ["2026-01-01", "2026-01-03"]
    assert ledger.latest()["nightly"].period_start == START + 2 * DAY


def test_prune_keeps_at_most_the_newest_rows_per_job(ledger: Ledger, elapse: Elapse) -> None:
    """A heartbeat's rows are capped by count, not only by age (SPEC 10.13.2)."""
    for day in range(6):
        for job in ("nightly", "other"):
            claim = claim_of(ledger.claim([request(job, day=day)], owner("a"), LEASE)[0])
            ledger.finish(claim, ok())
        elapse(60)
    assert ledger.prune(90, {"nightly"}, keep=2) == 3  # the horizon row and the 2 newest stay
    keys = [e.run.period_key for e in ledger.history(job_id="nightly")]
    assert keys == ["2026-01-06", "2026-01-05", "2026-01-04"]
    assert ledger.latest()["nightly"].period_start == START + 5 * DAY
    assert len(ledger.history(job_id="other")) == 6
    assert ledger.prune(90, {"nightly", "other"}) == 0  # nothing old, no cap


def test_prune_never_touches_rows_of_jobs_it_was_not_given(ledger: Ledger, elapse: Elapse) -> None:
    for day in range(3):
        for job in ("known", "unknown"):
            claim = claim_of(ledger.claim([request(job, day=day)], owner("a"), LEASE)[0])
            ledger.finish(claim, ok())
    elapse(100 * DAY)
    assert ledger.prune(90, {"known"}) == 2
    assert len(ledger.history(job_id="unknown")) == 3
    assert ledger.prune(90, set()) == 0


def test_leases_are_on_the_ledgers_clock(ledger: Ledger) -> None:
    before = ledger.now()
    ledger.claim([request()], owner("a"), LEASE)
    after = ledger.now()
    (row,) = ledger.unfinished()
    assert row.lease_until is not None
    assert before + LEASE <= row.lease_until <= after + LEASE
    assert before <= row.created_at <= after


def test_of_two_takers_of_an_expired_lease_one_wins(connect: OpenLedger, elapse: Elapse) -> None:
    one, two = connect(), connect()
    one.claim([request()], owner("a"), LEASE)
    elapse(LEASE + 1)
    results = [
        one.claim([request()], owner("b"), LEASE)[0],
        two.claim([request()], owner("c"), LEASE)[0],
    ]
    assert [type(r).__name__ for r in results] == ["Claim", "RunRecord"]
    (row,) = two.unfinished()
    assert row.fence == 2
    assert row.owner is not None
    assert row.owner.endswith(":b")


def test_a_large_batch_claims_each_period_once(connect: OpenLedger) -> None:
    one, two = connect(), connect()
    requests = [request(f"job-{i}", day=i % 7) for i in range(500)]
    first = one.claim(requests[:300], owner("a"), LEASE)
    second = two.claim(requests[::-1], owner("b"), LEASE)
    assert all(isinstance(r, Claim) for r in first)
    assert [isinstance(r, Claim) for r in second] == [i < 200 for i in range(500)]
    assert [r.job_id for r in second] == [r.job_id for r in requests[::-1]]


def test_owner_of_a_dead_process_is_proven_dead() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    me = Owner.current()
    dead = Owner(me.host, process.pid, me.token, "x")
    assert dead.proven_dead()
    assert not me.proven_dead()
    assert Owner.parse(str(me)) == me
    assert not Owner("elsewhere", process.pid, me.token, "x").proven_dead()
    reused = Owner(me.host, me.pid, me.token.split(":")[0] + ":1", "x")
    assert reused.proven_dead()
