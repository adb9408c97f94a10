"""Thousands of seeded scenarios: several providers over one SQLite ledger, in simulated time.

Each seed draws jobs (core cadences and extensions, every overlap and catch-up policy),
one to four providers or `scheduled tick` from cron, and crashes, pauses past the lease,
shutdowns, restarts, clock jumps and deploys; `tests/provider/sim` plays it against the real
`Provider` and checks invariants I1-I6 (see sim/model.py) after every step. A seed plays the
same way every time, so a failure is reproduced by its seed alone.

SCHEDULED_TEST_SIM_SEEDS=20000 runs more seeds; SCHEDULED_TEST_SIM_SEED=N replays one and
prints its whole trace (`-k one_seed`). The seeds come in chunks of 50, one test each, which
pytest-xdist spreads over its workers; each seed has a ledger file of its own.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from tests.provider.sim.world import Result, simulate

SEEDS = int(os.environ.get("SCHEDULED_TEST_SIM_SEEDS", "2000"))
CHUNK = 50
REPRODUCE = (
    "SCHEDULED_TEST_SIM_SEED={seed} .venv/bin/python -m pytest"
    " tests/provider/test_simulation.py -k one_seed"
)


def report(result: Result, *, lines: int = 40) -> str:
    """The seed, what broke, the events before it, and how to replay it."""
    first = result.violations[0]
    trace = result.trace[max(0, first.trace_index - lines) : first.trace_index + 1]
    text = [
        f"seed {result.seed}: {first.code}: {first.text}",
        *(f"  also {v.code}: {v.text.splitlines()[0]}" for v in result.violations[1:6]),
        "scenario:",
        *(f"  {line}" for line in result.scenario.describe().splitlines()),
        f"trace (up to {lines} events before it; simulated seconds, the host's wall clock):",
        *(f"  {line}" for line in trace),
        "reproduce: " + REPRODUCE.format(seed=result.seed),
    ]
    return "\n".join(text)


# Open: seeds whose violation is known and not fixed yet, each with why. They are not
# passed over: test_known_open_violations_still_occur fails as soon as one holds (then
# remove it here). A seed plays the same way in any interpreter (hash seed, xdist worker).
OPEN = {
    # A provider paused between deciding to start an attempt and the child's fork: the
    # child gets its fence as seconds computed before the pause, so it outlives its lease
    # and overlaps the run another provider took over (I2). Fix: absolute fence deadlines.
    535: "I2",
    1018: "I2",
    1436: "I2",
}


def simulated_providers_keep_every_invariant(first: int) -> None:
    seeds = [s for s in range(first, min(first + CHUNK, SEEDS)) if s not in OPEN]
    # Each seed stops at its first violation: the report names it; one_seed replays it all.
    failed = [r for r in (simulate(s, stop_at_first=True) for s in seeds) if r.violations]
    if failed:
        codes = Counter(code for r in failed for code in r.codes())
        summary = ", ".join(f"{code}: {n} seeds" for code, n in sorted(codes.items()))
        seeds_text = " ".join(f"{r.seed}({','.join(r.codes())})" for r in failed)
        pytest.fail(
            f"{len(failed)} of {len(seeds)} seeds failed (first violation of each: {summary}):"
            f" {seeds_text}\n\n{report(failed[0])}",
            pytrace=False,
        )


if SEEDS:  # collected only when asked for (see SEEDS): never an empty, skipped test
    test_simulated_providers_keep_every_invariant = pytest.mark.parametrize(
        "first", range(0, SEEDS, CHUNK), ids=lambda n: f"seeds-{n}-{min(n + CHUNK, SEEDS) - 1}"
    )(simulated_providers_keep_every_invariant)


def test_one_seed() -> None:
    """Replay SCHEDULED_TEST_SIM_SEED (default 0) to its end; on failure show every event."""
    seed = int(os.environ.get("SCHEDULED_TEST_SIM_SEED", "0"))
    result = simulate(seed)
    again = simulate(seed)
    assert again.trace == result.trace, "the simulation is not deterministic"
    if result.violations:
        pytest.fail(report(result, lines=len(result.trace)), pytrace=False)


@pytest.mark.parametrize("seed", sorted(OPEN))
def test_known_open_violations_still_occur(seed: int) -> None:
    """Each seed in OPEN still shows its violation; when one no longer does, take it out."""
    result = simulate(seed, stop_at_first=True)
    assert OPEN[seed] in result.codes(), f"seed {seed} holds now: remove it from OPEN"
