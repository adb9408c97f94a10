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
    Advance,
    Advanced,
    Attempt,
    Claim,
    ClaimRequest,
    Gap,
    Horizon,
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


def request(
    job: str = "nightly", day: int = 0, offset: int = 3_600, *, exclusive: bool = True
) -> ClaimRequest:
    start = START + day * DAY
    key = f"2026-01-{day + 1:02d}"
    return ClaimRequest(job, "day", key, start, start + offset, exclusive)


def advance(
    ledger: Ledger,
    days: range,
    job: str = "nightly",
    gap: Gap | None = None,
    overlap: str = "buffer-one",
    since: int | None = None,
) -> Advanced:
    """Record `days` come due for `job`, from the horizon `since` (a day; default: the day
    before the first)."""
    since = (START + (days.start - 1 if since is None else since) * DAY) * 1_000
    until = (START + (days.stop - 1) * DAY) * 1_000
    runs = tuple(request(job, day) for day in days)
    (result,) = ledger.advance([Advance(job, "day", since, until, runs, gap, overlap)])
    return result


def seen(ledger: Ledger, job: str = "nightly", day: int = -1) -> None:
    """First sight of `job`: the day before `day` + 1 is handled (day -1: none is)."""
    ledger.see({job: Horizon("day", (START + day * DAY) * 1_000)})


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
    ledger.claim([request("b", day=1)], owner("a"), LEASE)
    requests = [request("a", day=0), request("b", day=1), request("c", day=2)]
    results = ledger.claim(requests, owner("b"), LEASE)
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


def test_first_sight_is_recorded_once_and_a_new_schedule_starts_afresh(
    connect: OpenLedger,
) -> None:
    """SPEC.md 10.5.4: first sight is durable; whoever records it first sets the horizon."""
    one, two = connect(), connect()
    assert one.horizons() == {}
    assert one.see({"nightly": Horizon("day", 5_000)}) == {"nightly": Horizon("day", 5_000)}
    assert two.see({"nightly": Horizon("day", 9_000)}) == {"nightly": Horizon("day", 5_000)}
    moved = two.see({"nightly": Horizon("day+runs", 7_000), "other": Horizon("hour", 1)})
    assert moved == {"nightly": Horizon("day+runs", 7_000), "other": Horizon("hour", 1)}
    assert one.horizons() == moved


def test_advance_moves_a_horizon_only_from_where_it_is(connect: OpenLedger) -> None:
    """SPEC.md 10.5.1: of two providers deciding the same periods, the first decides."""
    one, two = connect(), connect()
    seen(one)
    gap = Gap("nightly", "day", "2026-01-01", START, "2026-01-02", START + DAY, 2)
    assert advance(one, range(2, 3), gap=gap, since=-1).applied
    late = advance(two, range(3))  # planned from the horizon before the first advance
    assert not late.applied
    assert late.horizon == Horizon("day", (START + 2 * DAY) * 1_000)
    assert [(e.run.kind, e.run.state) for e in two.history()] == [
        (Kind.SCHEDULED, State.PENDING),
        (Kind.MISSED, State.MISSED),
    ]
    assert two.horizons()["nightly"] == late.horizon
    (unseen,) = two.advance([Advance("unseen", "day", 0, 1_000)])
    assert unseen == Advanced(False)


def test_a_gap_is_one_row_however_long(ledger: Ledger) -> None:
    ledger.see({"every-minute": Horizon("minute", START * 1_000)})
    gap = Gap(
        "every-minute",
        "minute",
        "2026-01-01T00:01",
        START + 60,
        "2036-01-01T00:00",
        START + 315_532_800,
        5_258_880,
    )
    step = Advance("every-minute", "minute", START * 1_000, (START + 315_532_800) * 1_000, gap=gap)
    assert ledger.advance([step, step]) == [
        Advanced(True),
        Advanced(False, horizon=Horizon("minute", step.until)),
    ]
    (entry,) = ledger.history()
    assert entry.run.kind is Kind.MISSED
    assert entry.run.missed_count == 5_258_880
    assert entry.run.last_period_key == "2036-01-01T00:00"


def test_runs_come_due_as_pending_rows_any_provider_claims(connect: OpenLedger) -> None:
    """SPEC.md 10.5.2: a run come due is owed in the ledger, not in one provider's memory."""
    one, two = connect(), connect()
    seen(one)
    assert advance(one, range(1)).queued == (request(day=0),)
    (row,) = two.unfinished()
    assert (row.state, row.owner, row.fence) == (State.PENDING, None, 0)
    claim = claim_of(two.claim([request(day=0)], owner("b"), LEASE)[0])
    assert (claim.fence, claim.attempt, claim.taken_over) == (1, 0, False)
    assert isinstance(one.claim([request(day=0)], owner("a"), LEASE)[0], RunRecord)


def test_one_attempt_of_a_job_runs_at_a_time_across_providers(connect: OpenLedger) -> None:
    """SPEC.md 10.6.1: a run waits while another attempt of its job runs, on any provider."""
    one, two = connect(), connect()
    seen(one)
    advance(one, range(2))
    first = claim_of(one.claim([request(day=0)], owner("a"), LEASE)[0])
    (waiting,) = two.claim([request(day=1)], owner("b"), LEASE)
    assert isinstance(waiting, RunRecord)
    assert waiting.state is State.PENDING
    assert one.finish(first, ok())
    claim_of(two.claim([request(day=1)], owner("b"), LEASE)[0])
    # `overlap = "allow"` asks for no such wait; an unrecorded run is written pending.
    allowed = claim_of(one.claim([request(day=2, exclusive=False)], owner("a"), LEASE)[0])
    (unrecorded,) = one.claim([request(day=3)], owner("a"), LEASE)
    assert isinstance(unrecorded, RunRecord)
    assert unrecorded.state is State.PENDING
    assert allowed.fence == 1


def test_an_abandoned_run_waits_while_its_job_runs_elsewhere(
    ledger: Ledger, elapse: Elapse
) -> None:
    seen(ledger)
    advance(ledger, range(2))
    first = claim_of(ledger.claim([request(day=0)], owner("a"), LEASE)[0])
    assert ledger.finish(first, ok(outcome=State.ABANDONED, error="stopped at shutdown"))
    second = claim_of(ledger.claim([request(day=1)], owner("b"), LEASE)[0])
    (waits,) = ledger.claim([request(day=0)], owner("c"), LEASE)
    assert isinstance(waits, RunRecord)
    assert waits.state is State.ABANDONED
    elapse(LEASE + 1)  # the running attempt's lease expired: that row itself may be taken
    (taken,) = ledger.claim([request(day=1)], owner("c"), LEASE)
    assert claim_of(taken).fence == second.fence + 1


@pytest.mark.parametrize(
    ("overlap", "expected"),
    [
        ("buffer-one", ["pending", "pending", "skipped"]),
        ("skip", ["pending", "skipped", "skipped"]),
        ("allow", ["pending", "pending", "pending"]),
    ],
)
def test_the_overlap_policy_is_decided_on_the_ledger(
    connect: OpenLedger, overlap: str, expected: list[str]
) -> None:
    """SPEC.md 10.6.1: what comes due while a run runs is decided on every provider's runs."""
    one, two = connect(), connect()
    seen(one)
    advance(one, range(1), overlap=overlap)
    claim_of(one.claim([request(day=0, exclusive=overlap != "allow")], owner("a"), LEASE)[0])
    advance(two, range(1, 2), overlap=overlap)
    result = advance(one, range(2, 3), overlap=overlap)
    states = {e.run.period_key: str(e.run.state) for e in two.history()}
    assert [states[f"2026-01-0{d}"] for d in (1, 2, 3)] == ["running", *expected[1:]]
    assert bool(result.skipped) == (expected[2] == "skipped")
    # A catch-up batch is queued whole under buffer-one.
    if overlap == "buffer-one":
        assert advance(one, range(3, 5)).queued == (request(day=3), request(day=4))


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


def test_prune_keeps_unfinished_rows_and_horizons(ledger: Ledger, elapse: Elapse) -> None:
    seen(ledger)
    advance(ledger, range(4))
    for day in range(2):
        claim = claim_of(ledger.claim([request(day=day)], owner("a"), LEASE)[0])
        ledger.finish(claim, ok())
    ledger.claim([request(day=2)], owner("a"), LEASE)
    elapse(100 * DAY)
    assert ledger.prune(90, {"nightly"}) == 2
    states = sorted((e.run.period_key, str(e.run.state)) for e in ledger.history())
    assert states == [("2026-01-03", "running"), ("2026-01-04", "pending")]
    assert ledger.horizons()["nightly"].ms == (START + 3 * DAY) * 1_000


def test_prune_keeps_at_most_the_newest_rows_per_job(ledger: Ledger, elapse: Elapse) -> None:
    """A heartbeat's rows are capped by count, not only by age (SPEC 10.13.2)."""
    for day in range(6):
        for job in ("nightly", "other"):
            claim = claim_of(ledger.claim([request(job, day=day)], owner("a"), LEASE)[0])
            ledger.finish(claim, ok())
        elapse(60)
    assert ledger.prune(90, {"nightly"}, keep=2) == 4
    keys = [e.run.period_key for e in ledger.history(job_id="nightly")]
    assert keys == ["2026-01-06", "2026-01-05"]
    assert len(ledger.history(job_id="other")) == 6
    assert ledger.prune(90, {"nightly", "other"}) == 0  # nothing old, no cap


def test_prune_never_touches_rows_of_jobs_it_was_not_given(ledger: Ledger, elapse: Elapse) -> None:
    for day in range(3):
        for job in ("known", "unknown"):
            claim = claim_of(ledger.claim([request(job, day=day)], owner("a"), LEASE)[0])
            ledger.finish(claim, ok())
    elapse(100 * DAY)
    assert ledger.prune(90, {"known"}) == 3
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
