"""Keeping the leases of held runs (SPEC.md 10.4): heartbeats, ledger outages, self-fencing.

A provider renews every held lease each third of the lease. When the ledger does not
answer, it claims and records nothing, probes the ledger with capped backoff, and stops a
run's child before the lease can have expired (FENCE_AT), so that a run another replica
takes over never has two live attempts; the child also kills its own process group at
CHILD_FENCE_AT, in case this provider is paused or dead.
"""

from __future__ import annotations

from collections.abc import Callable

from scheduled_spec.provider import events
from scheduled_spec.provider.config import ProviderConfig
from scheduled_spec.provider.held import HeldRun, HeldRuns
from scheduled_spec.provider.ledger import Ledger, LedgerReplacedError

# Self-fencing (SPEC.md 10.4.5), in fractions of the lease since it was last renewed: the
# provider stops a run's child at FENCE_AT (two missed heartbeats), and the child, on its
# own, kills its process group at CHILD_FENCE_AT; both before the lease can be taken over.
FENCE_AT = 2 / 3
CHILD_FENCE_AT = 5 / 6
RETRY_FIRST = 0.25  # seconds before the first retry of an unreachable ledger; doubles


class Leases:
    """The lease keeping of one provider: when to renew, whether the ledger answers, and
    which held runs must be given up."""

    def __init__(
        self,
        ledger: Ledger,
        config: ProviderConfig,
        held: HeldRuns,
        monotonic: Callable[[], float],
        wall: Callable[[], float],
        lost: Callable[[HeldRun], None],
        drop: Callable[[HeldRun], None],
    ) -> None:
        self.ledger, self.config, self.held = ledger, config, held
        self._mono, self._wall, self._lost, self._drop = monotonic, wall, lost, drop
        self.failures = 0  # consecutive failed renewals; claiming waits while > 0
        self.next_heartbeat = 0.0  # monotonic

    def due(self, mono: float) -> bool:
        """Whether a heartbeat (or, while the ledger is down, a probe) is due."""
        return mono >= self.next_heartbeat

    def limits(self, mono: float) -> list[float]:
        """Seconds until the lease keeping next needs the loop (for `next_wake`)."""
        if not (self.failures or self.held):
            return []
        found = [self.next_heartbeat - mono]
        if self.held:
            found.append(self._fence_in(mono))
        return found

    def _fence_in(self, mono: float) -> float:
        """Seconds until the oldest held lease reaches FENCE_AT, on either clock."""
        limit, held = self.config.lease * FENCE_AT, self.held
        return min(
            held.renewal_floor + limit - mono, held.renewal_floor_wall + limit - self._wall()
        )

    def _left(self, run: HeldRun, fraction: float) -> float:
        """Seconds until `run`'s lease reaches `fraction` of its length since its renewal,
        on the monotonic clock or the wall clock, whichever comes first: a step of the wall
        clock forward brings a SQLite ledger's expiry (kept on the wall clock) nearer."""
        limit = self.config.lease * fraction
        return min(run.renewed + limit - self._mono(), run.renewed_wall + limit - self._wall())

    def child_deadline(self, run: HeldRun) -> float:
        """Seconds the run's child may go on without hearing of a renewal (CHILD_FENCE_AT)."""
        return max(0.001, self._left(run, CHILD_FENCE_AT))

    def heartbeat(self) -> None:
        """Renew every held lease; while the ledger is unreachable, probe it with backoff."""
        runs, sent, sent_wall = list(self.held), self._mono(), self._wall()
        try:
            if runs:
                lost = self.ledger.heartbeat([r.claim for r in runs], self.config.lease)
            else:
                lost = []
                if self.failures:
                    self.ledger.now()  # nothing to renew: just ask whether it answers
        except LedgerReplacedError:
            raise  # no outage: the provider must stop (Provider.run)
        except Exception as exc:  # noqa: BLE001 - any failure to renew is handled by fencing
            self.failed(exc)
            return
        if self.failures:
            events.ledger_back(self.failures)
            self.failures = 0
        self.next_heartbeat = sent + self.config.lease / 3
        gone = {c.run_id for c in lost}
        for run in runs:
            if run.claim.run_id in gone:
                if self.held.get(run.claim.run_id):
                    self._lost(run)
                continue
            run.renewed, run.renewed_wall = sent, sent_wall
            if run.handle is not None:
                run.handle.renew(self._left(run, CHILD_FENCE_AT))
        self.held.refloor()

    def failed(self, exc: Exception) -> None:
        """Renewal failed: claim nothing, retry with capped backoff; `fence` guards leases."""
        self.failures += 1
        cap = min(self.config.wake, self.config.lease / 3)
        delay = min(cap, RETRY_FIRST * 2 ** (self.failures - 1))
        self.next_heartbeat = self._mono() + delay
        events.ledger_down(exc, self.failures, delay)

    def wait(self) -> float:
        """Seconds until the first held run's lease must be given up (inf: none held)."""
        mono = self._mono()
        waits = [self._fence_in(mono)]
        if self.failures:
            waits.append(self.next_heartbeat - mono)
        return max(0.0, min(waits, default=float("inf")))

    def fence(self, mono: float, wall: float) -> None:
        """Stop each run whose lease this provider can no longer prove it holds.

        A lease not renewed for FENCE_AT of its length (database unreachable, this process
        paused) may be past by the time a write gets through: the child is stopped now, a run
        not started yet is dropped, and another replica (or this one) takes the run over once
        the lease expired. An attempt that already ended keeps its outcome, which is recorded
        only where the fence still matches.
        """
        limit, held = self.config.lease * FENCE_AT, self.held
        if mono - held.renewal_floor < limit and wall - held.renewal_floor_wall < limit:
            return  # every held lease is fresh: no scan
        for run in list(self.held):
            age = mono - run.renewed  # as the wall clock has it only when it stepped forward
            if age < limit <= wall - run.renewed_wall:
                age = wall - run.renewed_wall
            if run.fenced or age < limit:
                continue
            if run.handle is not None and run.handle.poll() is not None:
                continue
            run.fenced = True
            events.fenced(run.claim, age)
            if run.handle is None:
                self._drop(run)
            else:
                run.handle.stop(f"stopped: lease not renewed for {age:.1f} s")
                self.held.look_again(run, mono)  # an inline run says nothing when stopped
        self.held.refloor()
