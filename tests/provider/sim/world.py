"""The simulator: one simulated time line, the providers on it, and what happens to them.

`simulate(seed)` draws the scenario, opens one real SQLite ledger (on tmpfs when there is
one; production settings otherwise), and plays the scenario's events, the providers' wakes
and the simulated attempts' ends in time order, checking the model after each step.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from scheduled_spec.loader import load
from scheduled_spec.models import Project
from scheduled_spec.provider.config import ProviderConfig
from scheduled_spec.provider.ledger import Ledger, State, open_ledger
from scheduled_spec.provider.loop import Provider
from scheduled_spec.provider.owner import Owner
from tests.provider.sim.actors import Actor, LedgerProxy, SimAttempt, SimRunner
from tests.provider.sim.children import Children
from tests.provider.sim.model import Model, Violation
from tests.provider.sim.scenario import (
    MAX_DURATION,
    Event,
    Scenario,
    generate,
    project_toml,
)

INF = float("inf")


@dataclass
class Result:
    """What one seed did: its violations and the trace of events."""

    seed: int
    scenario: Scenario
    violations: list[Violation]
    trace: list[str] = field(default_factory=list)
    attempts: int = 0
    steps: int = 0

    def codes(self) -> list[str]:
        return sorted({v.code for v in self.violations})


class _Errors(logging.Handler):
    """Collects the provider's logged tracebacks ("provider step failed")."""

    def __init__(self, world: World) -> None:
        super().__init__(logging.ERROR)
        self.world = world

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.world.model.violate("E", f"the provider logged an error: {record.getMessage()}")


class World(Children):
    """Simulated time, the event queue, the providers and the run log."""

    def __init__(self, scenario: Scenario, directory: Path) -> None:
        self.scenario = s = scenario
        self.T = s.start
        self.host_offset = 0.0
        self.rng = random.Random(f"world:{s.seed}")  # noqa: S311 - a simulation, not crypto
        self.baton = threading.Lock()  # released by a provider's thread when it hands back
        self.baton.acquire()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._names = itertools.count(1)
        self.version = 0
        self.projects: list[Project] = [load(project_toml(v)) for v in s.versions]
        self.url = f"sqlite:///{directory / 'ledger.sqlite3'}"
        self.config = ProviderConfig(
            lease=s.lease,
            max_parallel=s.max_parallel,
            shutdown_grace=0.0,  # real waiting (time.monotonic), which a simulation cannot pass
        )
        self.slots: dict[int, Actor] = {}
        self.actors: list[Actor] = []  # alive: not ended
        self.attempts: list[SimAttempt] = []
        self.trace: list[str] = []
        self.calm = False
        self.calm_at = INF
        self.end = INF
        self.cron_token = 0
        self.host_down_until = 0.0
        self.steps = 0
        self.dirty = True  # a provider called the ledger since the model last read it
        self.cron_count = 0
        longest = max(
            [MAX_DURATION, *(j.timeout or 0 for v in s.versions for j in v)],
        )
        # A queued run waits behind the run before it: one long attempt, or three short ones
        # that fail (with backoff); then it runs itself.
        chain = 2 * max(longest, 3 * 40 + 3) + 20
        spacing = s.cron.every if s.cron else 0
        self.grace = chain + 2 * spacing + (s.lease if s.cron else 0)
        # The longest quiet stretch (it ends once every run due before it is final): room to
        # take over crashed runs, and to work off a catch-up of up to 100 runs.
        self.quiet = self.grace + 1.5 * s.lease + 2 * self.config.wake + spacing + 600
        self.model = Model(self, directory / "ledger.sqlite3")

    # -- the queue -------------------------------------------------------------------------

    def push(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._order), action))

    def note(self, text: str) -> None:
        wall = self.T + self.host_offset
        self.trace.append(f"{self.T - self.scenario.start:10.3f} wall {_clock(wall)}  {text}")

    def latency(self) -> float:
        """How soon a provider whose wake event is set runs again."""
        return self.rng.choice((0.0, 0.0005, self.rng.uniform(0.001, 0.05)))

    def lateness(self, seconds: float) -> float:
        """How long a provider that asked to wait `seconds` waits: late, sometimes early."""
        r = self.rng.random()
        seconds = max(0.0, seconds)
        if r < 0.55:
            return seconds + self.rng.uniform(0.0, 0.02)
        if r < 0.85:
            return seconds + self.rng.uniform(0.02, 0.8)
        if r < 0.95:
            return seconds + self.rng.uniform(0.8, 3.0)
        return seconds * self.rng.uniform(0.2, 1.0)  # `Clock.sleep` may return early

    def play(self) -> None:
        s = self.scenario
        for offset, event in s.events:
            self.push(s.start + offset, lambda e=event: self.apply(e))  # type: ignore[misc]
        if s.cron is not None:
            self.schedule_cron()
        self.push(s.start + s.chaos, self.calm_down)
        tail = self.grace
        short = 2 * s.cron.every + s.cron.jitter + 5 if s.cron else self.config.wake + 5
        while self._heap and not self.model.fatal:
            when, _, action = self._heap[0]
            if when > self.end and not self.working_off():
                self.T = self.end
                break
            heapq.heappop(self._heap)
            self.T = max(self.T, when)
            action()
            if self.calm and self.settled(short):
                tail = short
                break
        if not self.model.fatal:
            self.note(f"end of the scenario: runs due {tail:.0f} s before it must be final")
            self.model.final(self.T, tail)

    def working_off(self) -> bool:
        """At the quiet stretch's end: still working off a backlog (a catch-up of many runs
        queued behind each other)? Then the stretch goes on, up to four times its length."""
        ends = [a.end for a in self.attempts if a.end is not None]
        if not ends or self.calm_at + 4 * self.quiet < self.T or max(ends) < self.end - 120:
            return False
        self.end += 300
        self.note("still working off a backlog: the quiet stretch goes on")
        return True

    def settled(self, tail: float) -> bool:
        """Quiet long enough, no provider paused, and every run due `tail` ago final."""
        if self.calm_at + tail > self.T or any(a.paused for a in self.actors):
            return False
        return self.model.settled(self.T, tail)

    def teardown(self) -> None:
        for actor in list(self.actors):
            if actor.state != "done":
                actor.killed = True
                actor.resume()
            if actor.ledger is not None:
                actor.ledger.close()
        self.actors.clear()
        self.model.close()

    # -- scenario events -------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        if self.calm:
            return
        actor = self.slots.get(event.slot)
        live = actor is not None and actor.state not in ("done", "new") and not actor.killed
        self.note(f"event: {event}" + ("" if live or event.kind in _GLOBAL else " (no provider)"))
        if event.kind in _GLOBAL:
            self.apply_global(event)
        elif event.kind == "start" and not live:
            self.start(event.slot)
        elif actor is not None and live:
            if event.kind == "crash":
                self.crash(actor, event)
            elif event.kind == "pause" and not actor.paused:
                self.pause(actor, event)
            elif event.kind == "shutdown" and actor.state == "wait" and not actor.paused:
                self.note(f"{actor}: shutdown")
                actor.stopping = True
                assert actor.provider is not None
                actor.provider.stop()
                self.run(actor)

    def apply_global(self, event: Event) -> None:
        """What happens to the host: a clock step, a deploy, a tick from cron, a power-off."""
        if event.kind == "jump":
            self.host_offset += event.seconds
            self.model.jumped(self.T)
            self.model.disturbed(self.T, None)
            self.wall_stepped()
            if self.scenario.cron is not None:
                self.schedule_cron()
        elif event.kind == "deploy":
            self.version = event.version
        elif event.kind == "down":  # the host goes off: whatever still runs dies with it
            self.host_down_until = self.T + event.seconds
            for other in list(self.actors):
                if not _gone(other):
                    self.crash(other, Event("crash"))
        elif event.kind == "tick" and self.host_down_until <= self.T:
            self.start_tick(Event("crash", point=event.point) if event.point else None)

    def calm_down(self) -> None:
        """The final quiet stretch: no more faults; one provider of the last version runs."""
        self.calm, self.calm_at = True, self.T
        # Leases run on the wall clock: after a backward step, they end that much later.
        behind = self.model.max_wall() - (self.T + self.host_offset)
        self.end = self.T + self.quiet + max(0.0, behind)
        self.note("quiet from here on")
        for actor in self.actors:
            actor.arm = None  # a crash or pause armed for a later ledger call: not any more
        if self.scenario.slots and not any(
            a.mode == "run"
            and a.version == self.version
            and not (a.killed or a.stopping or a.paused)
            for a in self.actors
        ):
            free = next(n for n in itertools.count() if n not in self.slots or _gone(self.slots[n]))
            self.start(free)

    def start(self, slot: int) -> None:
        skew = self.scenario.skews[slot] if slot < len(self.scenario.skews) else 0.0
        actor = self.new_actor(f"p{slot}.{next(self._names)}", "run", skew)
        self.slots[slot] = actor
        self.run(actor)

    def start_tick(self, fault: Event | None) -> None:
        actor = self.new_actor(f"tick{next(self._names)}", "tick", 0.0)
        if fault is not None and not self.calm:
            actor.arm, actor.countdown = fault, fault.point
        actor.start_wall = actor.wall_ms()
        self.run(actor)

    def new_actor(self, name: str, mode: str, skew: float) -> Actor:
        n = next(self._names)
        actor = Actor(self, name, mode, self.version, skew, 10_000.0 * n)
        actor.jobs = {j.id: j for j in self.scenario.versions[self.version]}
        ledger = open_ledger(self.url, clock=actor.clock)
        actor.ledger = ledger
        provider = Provider(
            self.projects[self.version],
            cast(Ledger, LedgerProxy(ledger, actor)),
            SimRunner(actor),
            actor.clock,
            self.config,
            monotonic=actor.monotonic,
        )
        provider.owner = Owner(f"sim-{name}", 30_000 + n, f"simboot:{n}", f"{n:012x}")
        actor.provider = provider
        self.actors.append(actor)
        self.note(f"{name}: {mode} starts with version {self.version}")
        return actor

    def crash(self, actor: Actor, event: Event) -> None:
        if event.point:
            actor.arm, actor.countdown = event, event.point
            return
        self.note(f"{actor}: crash")
        actor.killed = True
        self.run(actor)

    def pause(self, actor: Actor, event: Event) -> None:
        if event.point:
            actor.arm, actor.countdown = event, event.point
            return
        self.note(f"{actor}: paused for {event.seconds:.1f} s")
        self.freeze(actor, event.seconds)

    def freeze(self, actor: Actor, seconds: float) -> None:
        actor.paused = True
        self.model.disturbed(self.T, actor)
        self.model.cover(self.T)
        self.push(self.T + seconds, lambda: self.thaw(actor))

    def thaw(self, actor: Actor) -> None:
        if actor.state == "done" or actor.killed:
            return
        self.note(f"{actor}: resumes")
        actor.paused = False
        actor.was_paused = True
        self.model.cover(self.T)
        # The runner's watcher and the loop race once the process runs again: either may
        # see first that a child ended (or timed out) while the process was stopped.
        for attempt in [*actor.hidden, *(a for a in actor.attempts if a.timeout_due)]:
            if self.rng.random() < 0.5:
                self.settle(attempt)
            else:
                actor.after_step.append(attempt)
        actor.hidden.clear()
        if actor.state == "point":
            self.run(actor)
        elif actor.state == "wait":
            assert actor.wait_event is not None
            if actor.wait_until <= self.T or actor.wait_event.is_set():
                self.begin_step(actor)
                self.run(actor)

    def schedule_cron(self) -> None:
        cron = self.scenario.cron
        assert cron is not None
        self.cron_token += 1
        token = self.cron_token
        wall = self.T + self.host_offset
        boundary = ((wall + 0.5) // cron.every + 1) * cron.every  # never the one that just fired
        jitter = self.rng.uniform(0, cron.jitter) if cron.jitter else 0.0
        # (2 us late at least, so that float rounding never fires it before second 0)
        self.push(self.T + boundary - wall + jitter + 2e-6, lambda: self.cron_fires(token))

    def cron_fires(self, token: int) -> None:
        if token != self.cron_token:
            return
        cron = self.scenario.cron
        assert cron is not None
        if self.host_down_until <= self.T:
            self.start_tick(None if self.calm else cron.faults.get(self.cron_count))
        self.cron_count += 1
        self.schedule_cron()

    # -- running providers -----------------------------------------------------------------

    def wake_at(self, actor: Actor, when: float, token: int) -> None:
        self.push(when, lambda: self.wake(actor, token))

    def wake(self, actor: Actor, token: int) -> None:
        if token != actor.token or actor.paused or actor.killed or actor.state != "wait":
            return
        self.begin_step(actor)
        self.run(actor)

    def begin_step(self, actor: Actor) -> None:
        """A step begins now; it decides what is due, but a tick's later steps only wait."""
        if actor.mode == "tick" and actor.attended_once:
            return
        wall = actor.wall_ms()
        actor.step_wall, actor.step_before = wall, self.model.stepping(actor, wall)

    def nudge(self, actor: Actor) -> None:
        """A runner told the provider that an attempt ended: it wakes soon."""
        event = actor.wait_event
        if actor.state != "wait" or actor.paused or event is None or not event.is_set():
            return
        when = self.T + self.latency()
        if when < actor.wait_until:
            actor.token += 1
            actor.wait_until = when
            self.wake_at(actor, when, actor.token)

    def run(self, actor: Actor) -> None:
        """Let the provider run until it waits, is interrupted or ends; then check."""
        self.steps += 1
        actor.resume()
        state = actor.state
        if state == "wait" and not actor.stopping:
            self.stepped(actor)
        elif state == "point" and actor.pause_for:
            self.note(f"{actor}: paused for {actor.pause_for:.1f} s in the middle of a step")
            actor.step_wall = None  # when it read the clock is unknown: it attends nothing
            actor.paused_in_load = not actor.loaded  # its first step decides with both
            self.freeze(actor, actor.pause_for)
            actor.pause_for = 0.0
        elif state == "done":
            self.ended(actor)
        for attempt in actor.after_step:
            self.settle(attempt)
        actor.after_step.clear()
        self.model.check(self.T)

    def stepped(self, actor: Actor) -> None:
        """A step finished: it attended what was due at its wall clock."""
        wall, actor.step_wall = actor.step_wall, None
        if not actor.loaded:
            return
        if actor.mode == "tick":
            if actor.attended_once:
                return  # a tick's later steps only wait for its runs: they claim nothing new
            actor.attended_once = True
        if wall is None:  # paused in the middle: when it read the clock is unknown
            actor.last_wall = None
            return
        kind = "tick" if actor.mode == "tick" else "fresh" if actor.last_wall is None else "resumed"
        if kind == "resumed" and not actor.was_paused:
            kind = "continuous"
        self.model.attended(actor, wall, kind, actor.last_wall, actor.step_before)
        if actor.mode == "tick":
            actor.tick_step = (wall, actor.step_before)
        actor.last_wall, actor.was_paused = wall, False

    def ended(self, actor: Actor) -> None:
        self.note(f"{actor}: {actor.outcome}")
        if actor.outcome == "ticked":
            self.stepped(actor)
        for attempt in list(actor.attempts):
            self.end_attempt(attempt, "crash-killed", State.FAILED, "killed with its provider")
        actor.hidden.clear()
        if actor.ledger is not None:
            actor.ledger.close()
            actor.ledger = None
        if actor in self.actors:
            self.actors.remove(actor)
        if actor.outcome == "crashed":
            self.model.disturbed(self.T, actor)
        elif actor.outcome == "error":
            self.model.violate("E", f"{actor} raised:\n{actor.error}")
        elif actor.outcome == "ticked":
            wall, before = actor.tick_step or (None, {})
            self.model.ticked(actor, wall, before)
        self.model.cover(self.T)

    def loaded(self, actor: Actor) -> None:
        """On the provider's thread, when `load` returned: first sight; its first step next."""
        actor.loaded = True
        self.model.loaded(actor, actor.wall_ms())
        self.model.cover(self.T)
        self.begin_step(actor)
        if actor.paused_in_load:  # what it read before the pause is part of its first step
            actor.step_wall = None

    def spinning(self, actor: Actor) -> None:
        self.model.violate("SPIN", f"{actor} woke over 400 times in one simulated second")
        self.model.fatal = True
        actor.killed = True


_GLOBAL = ("jump", "deploy", "tick", "down")


def _gone(actor: Actor) -> bool:
    return actor.state == "done" or actor.killed


def _clock(wall: float) -> str:
    import time  # noqa: PLC0415

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall * 1000) % 1000:03d}"


def simulate(seed: int, *, stop_at_first: bool = False, keep: Path | None = None) -> Result:
    """Play the scenario of `seed`; return its violations (none when all invariants hold).

    `stop_at_first` ends the scenario at its first violation; `keep` copies the ledger there.
    """
    scenario = generate(seed)
    shm = Path("/dev/shm")  # noqa: S108 - tmpfs on purpose: a ledger's fsync is cheap there
    directory = Path(tempfile.mkdtemp(prefix="sim-", dir=shm if shm.is_dir() else None))
    world = World(scenario, directory)
    world.model.stop_at_first = stop_at_first
    errors = _Errors(world)
    logger = logging.getLogger("scheduled_spec.provider")
    level = logger.level
    if logger.getEffectiveLevel() >= logging.WARNING:  # unless someone asked for the lines:
        logger.setLevel(logging.ERROR)  # the trace tells the story; a logged traceback fails
    logger.addHandler(errors)
    try:
        world.play()
    finally:
        logger.removeHandler(errors)
        logger.setLevel(level)
        world.teardown()
        if keep is not None:  # a consistent copy, the WAL's pages included
            source, copy = sqlite3.connect(directory / "ledger.sqlite3"), sqlite3.connect(keep)
            source.backup(copy)
            source.close()
            copy.close()
        shutil.rmtree(directory, ignore_errors=True)
    return Result(
        seed, scenario, world.model.violations, world.trace, len(world.attempts), world.steps
    )
