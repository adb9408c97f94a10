"""The simulated side of one provider: its thread, clocks, ledger connection and runner.

Each provider is a real `Provider` on a thread of its own that runs only while the world
hands it the baton (`Actor.resume`) and hands it back when it waits on its clock, reaches an
interrupt point, or ends. Exactly one thread runs at any time, so a seed always plays the
same way. The runner never starts a thread: a simulated attempt ends when the world says so.
"""

from __future__ import annotations

import random
import threading
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from scheduled_spec.provider.ledger import Attempt, Ledger, State
from scheduled_spec.provider.runner import RunHandle, RunSpec
from tests.provider.sim.scenario import Event, JobSpec
from tests.provider.sim.schedules import Schedule

if TYPE_CHECKING:
    from scheduled_spec.provider.loop import Provider
    from tests.provider.sim.world import World

# How a simulated attempt ended, as the run log tells it (not as the ledger records it).
NATURAL = ("succeeded", "failed", "timed-out", "not-started")
KILLED = ("stopped", "self-fenced", "crash-killed")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CHILD_STARTUP = 0.05  # seconds from a child's start to its job's call (the interpreter starts)
INF = float("inf")
# How a child that stopped itself for its provider's sake ends (SPEC.md 10.4.5, I5): the
# runner records it abandoned, so that the run runs again.
SELF_FENCED = "stopped by its child: its lease was not renewed in time"


class SimKill(BaseException):
    """SIGKILL of one simulated provider: unwinds its thread past every `except Exception`."""


class ActorClock:
    """The provider's view of the host's wall clock (with its skew); waiting yields."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    def now(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.actor.wall_us())

    def sleep(self, seconds: float) -> None:
        self.actor.wait(threading.Event(), seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return self.actor.wait(event, seconds)


class Actor:
    """One provider process: `run` (a daemon) or `tick` (one `scheduled tick` from cron)."""

    def __init__(
        self, world: World, name: str, mode: str, version: int, skew: float, mono: float
    ) -> None:
        self.world, self.name, self.mode, self.version = world, name, mode, version
        self.skew, self.mono_offset = skew, mono
        self.clock = ActorClock(self)
        self.provider: Provider | None = None
        self.ledger: Ledger | None = None
        self.jobs: dict[str, JobSpec] = {}
        self.state = "new"  # new, running, wait, point, done
        self.outcome = ""  # crashed, stopped, ticked, error
        self.error = ""
        self.paused = False
        self.killed = False
        self.stopping = False
        self.loaded = False
        self.arm: Event | None = None
        self.countdown = 0
        self.pause_for = 0.0
        self.token = 0
        self.wait_event: threading.Event | None = None
        self.wait_until = 0.0
        self.attempts: list[SimAttempt] = []  # started and not ended
        self.hidden: list[SimAttempt] = []  # ended while paused; the provider does not know yet
        self.after_step: list[SimAttempt] = []  # to end or reveal once its next step is done
        self.step_wall: int | None = None  # wall clock (ms) of the step under way
        self.step_before: dict[Schedule, int] = {}  # per job: newest wall seen before it
        self.tick_step: tuple[int, dict[Schedule, int]] | None = None  # a tick's first step
        self.last_wall: int | None = None  # wall clock (ms) of its previous step
        self.was_paused = False
        self.paused_in_load = False
        self.attended_once = False
        self.start_wall = 0  # ms
        self.born = world.T
        self.spin = (0.0, 0)
        # Binary locks held while "off": the cheapest hand-over between two threads.
        self._go = threading.Lock()
        self._go.acquire()
        self.thread = threading.Thread(target=self._main, name=f"sim-{name}", daemon=True)

    def __str__(self) -> str:
        return self.name

    # -- time ------------------------------------------------------------------------------

    def wall_us(self) -> int:
        """The provider's wall clock in whole microseconds, as its `Clock.now` shows it."""
        return round((self.world.T + self.world.host_offset + self.skew) * 1_000_000)

    def wall_ms(self) -> int:
        """The provider's wall clock in whole milliseconds (the model's unit), rounded down."""
        return self.wall_us() // 1_000

    def wall(self) -> float:
        return self.wall_us() / 1_000_000

    def monotonic(self) -> float:
        return self.world.T + self.mono_offset

    # -- the provider's thread -------------------------------------------------------------

    def _main(self) -> None:
        self._go.acquire()
        try:
            self._play()
        except SimKill:
            self.outcome = "crashed"
        except BaseException:  # noqa: BLE001 - reported as a failure of the seed
            self.outcome = "error"
            self.error = traceback.format_exc()
        finally:
            self.state = "done"
            self.world.baton.release()

    def _play(self) -> None:
        if self.killed:
            raise SimKill
        provider = self.provider
        assert provider is not None
        provider.load()
        self.world.loaded(self)
        if self.mode == "tick":
            provider.tick()
            self.outcome = "ticked"
        else:
            provider.run()
            self.outcome = "stopped"

    def _yield(self, state: str) -> None:
        self.state = state
        self.world.baton.release()
        self._go.acquire()
        self.state = "running"
        if self.killed:
            raise SimKill

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """`Clock.wait` on the provider's thread: the world resumes it later."""
        world = self.world
        if self.killed:
            raise SimKill
        start, count = self.spin
        self.spin = (start, count + 1) if world.T - start < 1.0 else (world.T, 1)
        if self.spin[1] > 400:
            world.spinning(self)
        delay = world.latency() if event.is_set() else world.lateness(seconds)
        self.wait_event, self.wait_until = event, world.T + delay
        self.token += 1
        world.wake_at(self, self.wait_until, self.token)
        self._yield("wait")
        return event.is_set()

    def point(self, where: str) -> None:
        """An interrupt point: after each ledger call and before each attempt starts."""
        if self.killed:
            raise SimKill
        if self.arm is None:
            return
        self.countdown -= 1
        if self.countdown > 0:
            return
        event, self.arm = self.arm, None
        self.world.note(f"{self.name}: {event.kind} after {where}")
        if event.kind == "crash":
            raise SimKill
        self.pause_for = event.seconds
        self._yield("point")

    def resume(self) -> None:
        """Hand the baton to this provider's thread; return when it hands it back."""
        if self.state == "new":
            self.thread.start()
        self._go.release()
        if not self.world.baton.acquire(timeout=60):
            raise RuntimeError(f"{self.name} did not yield in 60 s: a real-time wait?")


class LedgerProxy:
    """The real ledger, with an interrupt point after each call (crash or pause there)."""

    def __init__(self, ledger: Ledger, actor: Actor) -> None:
        self._ledger = ledger
        self._actor = actor

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._ledger, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._actor.world.dirty = True
            result = target(*args, **kwargs)
            self._actor.point(name)
            return result

        return call


class SimAttempt:
    """One simulated attempt: a `RunHandle` whose child runs in simulated time."""

    def __init__(self, actor: Actor, spec: RunSpec, done: Callable[[], None], job: JobSpec):
        context = spec.context
        self.actor, self.spec, self.done, self.job = actor, spec, done, job
        self.job_id, self.period, self.at = context.job_id, context.period, context.at
        self.number, self.fence = context.attempt, context.fence
        self.start = actor.world.T
        self.wall_start = actor.wall()
        self.ran = True  # False: the child killed itself before it called the job
        self.schedule: Schedule | None = None  # the job version whose run it is (the model's)
        self.end: float | None = None
        self.reason = ""
        self.result: Attempt | None = None
        self.visible = False
        self.timeout_due = False
        self.fence_token = 0
        self.mono_end = INF  # the child stops itself at either end (SPEC.md 10.4.5-10.4.6)
        self.wall_end = INF

    def __str__(self) -> str:
        return (
            f"{self.job_id} {self.period} attempt {self.number} fence {self.fence}"
            f" on {self.actor.name}"
        )

    def poll(self) -> Attempt | None:
        return self.result if self.visible else None

    def stop(self, why: str = "stopped at shutdown") -> None:
        world = self.actor.world
        if self.end is None:
            world.end_attempt(self, "stopped", State.ABANDONED, why)
            self.visible = True
        elif not self.visible:
            # It ended while its provider was paused, and the runner had not noticed: as the
            # child runner's watcher, a stop now makes it abandoned.
            self.result = Attempt(self.number, State.ABANDONED, self.spec.started_at, 0.0, why)
            self.visible = True
            if self in self.actor.hidden:
                self.actor.hidden.remove(self)
        self.done()

    def renew(self, seconds: float) -> None:
        if self.end is None:
            self.actor.world.child_fence_in(self, seconds)


class SimRunner:
    """Starts simulated attempts (`Runner`); it never waits for a slot and never spawns."""

    waits = False

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    def start(self, spec: RunSpec, done: Callable[[], None]) -> RunHandle:
        actor = self.actor
        actor.point("runner.start")
        world = actor.world
        job = actor.jobs[spec.context.job_id]
        context = spec.context
        seed = f"{world.scenario.seed}:{job.id}:{context.period}:{context.attempt}:{context.fence}"
        rng = random.Random(seed)  # noqa: S311 - a seeded simulation, not cryptography
        if rng.random() < 0.02:
            world.not_started(actor, spec, job)
            raise OSError("simulated: cannot start the child")
        attempt = SimAttempt(actor, spec, done, job)
        if 0 < spec.fence_after < CHILD_STARTUP:
            # Its lease is past its child's fence already: the child's watcher kills it before
            # the job is called (this happens after a pause between claim and start).
            attempt.ran = False
            world.attempt_started(attempt)
            world.end_attempt(attempt, "self-fenced", State.ABANDONED, SELF_FENCED)
            world.push(world.T + 0.001, lambda: world.tell(attempt))
            return attempt
        world.attempt_started(attempt)
        b = job.behaviour
        if rng.random() >= b.p_hang:
            failed = rng.random() < b.p_fail
            short, long = b.ranges(job.schedule.spacing)
            low, high = long if rng.random() < b.p_long and not failed else short
            outcome = State.FAILED if failed else State.SUCCEEDED
            world.natural_end_at(attempt, world.T + rng.uniform(low, high), outcome)
        world.timeout_at(attempt, world.T + spec.timeout)
        if spec.fence_after > 0:
            world.child_fence_in(attempt, spec.fence_after)
        return attempt

    def close(self) -> None:
        pass
