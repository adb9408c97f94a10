"""The simulated children: how an attempt ends, and when its runner hears of it.

An attempt ends on its own (the job returned or raised), at its timeout (the runner's
watcher, stopped while its provider is paused), when its child fences itself (no lease
renewal in time on the monotonic or the wall clock, SPEC.md 10.4.5-10.4.6), when the
provider stops it, or with its provider (SIGKILL of the process group). The run log records
the end at once; the provider learns of it through its `RunHandle`, later if it is paused.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from scheduled_spec.provider.ledger import Attempt, State
from scheduled_spec.provider.runner import RunSpec
from tests.provider.sim.actors import SELF_FENCED, Actor, SimAttempt
from tests.provider.sim.scenario import JobSpec

if TYPE_CHECKING:
    from tests.provider.sim.model import Model


class Children:
    """The attempts half of the world (a mixin of `World`)."""

    T: float
    rng: random.Random
    attempts: list[SimAttempt]
    actors: list[Actor]
    model: Model

    if TYPE_CHECKING:  # what `World` provides

        def push(self, when: float, action: Callable[[], None]) -> None: ...

        def note(self, text: str) -> None: ...

        def nudge(self, actor: Actor) -> None: ...

    def attempt_started(self, attempt: SimAttempt) -> None:
        self.attempts.append(attempt)
        attempt.actor.attempts.append(attempt)
        self.note(f"start {attempt}")
        self.model.started(attempt)

    def not_started(self, actor: Actor, spec: RunSpec, job: JobSpec) -> None:
        """The runner could not start the child: a natural failure, in the run log too."""
        attempt = SimAttempt(actor, spec, lambda: None, job)
        attempt.end, attempt.reason = self.T, "not-started"
        self.attempts.append(attempt)
        self.note(f"could not start {attempt}")
        self.model.started(attempt)

    def end_attempt(
        self, attempt: SimAttempt, reason: str, outcome: State, error: str | None
    ) -> None:
        """The attempt ends now (in the run log); its runner will report `outcome`."""
        attempt.end, attempt.reason = self.T, reason
        duration = self.T - attempt.start
        attempt.result = Attempt(attempt.number, outcome, attempt.spec.started_at, duration, error)
        if attempt in attempt.actor.attempts:
            attempt.actor.attempts.remove(attempt)
        self.note(f"end {attempt}: {reason}")
        self.model.ended(attempt)

    def natural_end_at(self, attempt: SimAttempt, when: float, outcome: State) -> None:
        self.push(when, lambda: self.natural_end(attempt, outcome))

    def natural_end(self, attempt: SimAttempt, outcome: State) -> None:
        if attempt.end is not None:
            return
        failed = outcome is State.FAILED
        error = "ValueError: simulated failure" if failed else None
        self.end_attempt(attempt, "failed" if failed else "succeeded", outcome, error)
        self.tell(attempt)

    def timeout_at(self, attempt: SimAttempt, when: float) -> None:
        self.push(when, lambda: self.timed_out(attempt))

    def timed_out(self, attempt: SimAttempt) -> None:
        if attempt.end is not None or attempt.actor.state == "done":
            return
        if attempt.actor.paused:  # its watcher thread is stopped with the provider
            attempt.timeout_due = True
            return
        self.settle(attempt)

    def child_fence_in(self, attempt: SimAttempt, seconds: float) -> None:
        """The child may go on `seconds` without a renewal, on either clock (10.4.5-10.4.6)."""
        attempt.fence_token += 1
        attempt.mono_end, attempt.wall_end = self.T + seconds, attempt.actor.wall() + seconds
        self.child_look_at(attempt, self.T + seconds)

    def child_look_at(self, attempt: SimAttempt, when: float) -> None:
        token = attempt.fence_token
        self.push(when, lambda: self.child_fences(attempt, token))

    def wall_stepped(self) -> None:
        """The host's clock stepped: each child looks at the wall clock within a second."""
        for actor in self.actors:
            for attempt in actor.attempts:
                if attempt.actor.wall() >= attempt.wall_end:
                    self.child_look_at(attempt, self.T + self.rng.uniform(0.0, 1.0))

    def child_fences(self, attempt: SimAttempt, token: int) -> None:
        """No renewal reached the child in time: it stops itself, says so, and is recorded
        abandoned by its runner (10.4.5)."""
        if attempt.end is not None or token != attempt.fence_token:
            return
        if attempt.mono_end - 1e-9 > self.T and attempt.actor.wall() < attempt.wall_end:
            return
        self.end_attempt(attempt, "self-fenced", State.ABANDONED, SELF_FENCED)
        self.tell(attempt)

    def tell(self, attempt: SimAttempt) -> None:
        """The runner learns that the attempt ended (later, if its provider is stopped)."""
        actor = attempt.actor
        if actor.state == "done" or actor.killed:
            return
        if actor.paused:
            actor.hidden.append(attempt)
            return
        attempt.visible = True
        attempt.done()
        self.nudge(actor)

    def settle(self, attempt: SimAttempt) -> None:
        """After a pause: apply a timeout that fell due, or reveal an end."""
        if attempt.end is None:
            timeout = attempt.spec.timeout
            error = f"timed out after {timeout:g} s"
            self.end_attempt(attempt, "timed-out", State.TIMED_OUT, error)
            self.tell(attempt)
        elif not attempt.visible:
            self.tell(attempt)
