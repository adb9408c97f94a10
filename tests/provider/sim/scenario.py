"""Scenarios drawn from a seed: jobs and their deploys, providers, and what happens to them.

A scenario is data: the simulator (`world`) plays it. Events name a provider by its slot;
one that does not apply when its time comes (crash a slot that holds no provider) is
ignored, so any sequence the generator draws is playable.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from tests.provider.sim.schedules import Schedule

START = 1_780_000_000  # 2026-05-28T20:26:40Z; each scenario starts up to a day later
MAX_DURATION = 90.0  # no simulated attempt runs longer (hanging ones end at their timeout)
INTERVALS = (1, 2, 3, 5, 10, 15, 20, 30)
CRONS = ("* * * * *", "*/2 * * * *", "*/5 * * * *", "7,31,52 * * * *", "*/15 * * * *")


@dataclass(frozen=True)
class Behaviour:
    """How the simulated attempts of a job go: the odds of a long, failing or hanging one.

    Durations follow the job's schedule (`ranges`), so they stay sensible when a deploy
    changes it: a long attempt outlasts the time to the job's next run.
    """

    p_long: float
    p_fail: float
    p_hang: float
    brief: bool = False  # short attempts only, and shorter (a catch-up of many runs)

    def ranges(self, spacing: float) -> tuple[tuple[float, float], tuple[float, float]]:
        """(short, long) ranges of seconds an attempt takes."""
        short_top = min(spacing * 0.2, 8.0) if self.brief else min(spacing * 0.5, 40.0)
        long_low = min(spacing * 1.1, MAX_DURATION * 0.6)
        long_top = min(spacing * 2.6, MAX_DURATION)
        return (0.01, max(0.05, short_top)), (long_low, max(long_low, long_top))


@dataclass(frozen=True)
class JobSpec:
    """One job as a project version declares it, and how its attempts behave."""

    id: str
    every: str
    behaviour: Behaviour
    interval: int | None = None
    cron: str | None = None
    overlap: str | None = None
    catch_up: str | None = None
    timeout: int | None = None

    @cached_property
    def schedule(self) -> Schedule:
        return Schedule(self.id, self.every, self.interval, self.cron)

    def policy(self) -> str:
        return self.catch_up or "latest"

    def toml(self) -> str:
        lines = [
            f'[tool.scheduled."{self.id}"]',
            f'every = "{self.every}"',
            'entrypoint = "simulated.jobs:run"',
        ]
        if self.interval is not None:
            lines.append(f"interval = {self.interval}")
        if self.cron is not None:
            lines.append(f'cron = "{self.cron}"')
        if self.overlap is not None:
            lines.append(f'overlap = "{self.overlap}"')
        if self.catch_up is not None:
            lines.append(f'catch-up = "{self.catch_up}"')
        if self.timeout is not None:
            lines.append(f"timeout = {self.timeout}")
        return "\n".join(lines)


def project_toml(jobs: tuple[JobSpec, ...]) -> str:
    """The pyproject.toml text of a project version."""
    return '[project]\nname = "simulated"\n\n' + "\n\n".join(j.toml() for j in jobs) + "\n"


@dataclass(frozen=True)
class Event:
    """Something that happens at an instant of simulated time.

    kind: start, crash, pause, shutdown, jump, deploy, tick. `point` 0 acts between two
    steps of the provider; k > 0 at its k-th ledger call (or attempt start) from then on,
    which may be in the middle of a step, between a claim and its start, or at start-up.
    """

    kind: str
    slot: int = 0
    point: int = 0
    seconds: float = 0.0
    version: int = 0

    def __str__(self) -> str:
        extra = []
        if self.kind in ("start", "crash", "pause", "shutdown"):
            extra.append(f"p{self.slot}")
        if self.point:
            extra.append(f"at call {self.point}")
        if self.kind in ("pause", "jump", "down"):
            extra.append(
                f"{self.seconds:+.1f} s" if self.kind == "jump" else f"{self.seconds:.1f} s"
            )
        if self.kind == "deploy":
            extra.append(f"version {self.version}")
        return " ".join([self.kind, *extra])


@dataclass(frozen=True)
class Cron:
    """`scheduled tick` from cron: at each multiple of `every` seconds of the host's wall
    clock, plus up to `jitter` seconds; `faults` maps a tick's number to a crash or pause."""

    every: int
    jitter: float
    faults: dict[int, Event] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """Everything one seed decides before the simulation starts."""

    seed: int
    start: float
    versions: tuple[tuple[JobSpec, ...], ...]
    events: tuple[tuple[float, Event], ...]  # seconds after `start`, in order
    chaos: float  # seconds after `start` when the last event has happened
    lease: float
    max_parallel: int
    skews: tuple[float, ...]  # per slot: how far that provider's wall clock is off
    cron: Cron | None
    slots: int

    @property
    def max_skew(self) -> float:
        return max((abs(s) for s in self.skews), default=0.0)

    def describe(self) -> str:
        lines = [
            f"lease {self.lease:g} s, max_parallel {self.max_parallel}, providers {self.slots},"
            f" skews {', '.join(f'{s:+.2f}' for s in self.skews) or '-'}"
            + (f", cron tick every {self.cron.every} s" if self.cron else "")
        ]
        for n, jobs in enumerate(self.versions):
            lines.append(f"version {n}: " + "; ".join(_job_text(j) for j in jobs))
        return "\n".join(lines)


def _job_text(job: JobSpec) -> str:
    what = f"interval {job.interval}" if job.interval else f"cron {job.cron!r}" if job.cron else ""
    keys = [job.every, what, job.overlap or "", job.catch_up or "", f"timeout {job.timeout}"]
    b = job.behaviour
    odds = f"long {b.p_long:g} fail {b.p_fail:g} hang {b.p_hang:g}"
    return f"{job.id} ({', '.join(k for k in keys if k and k != 'timeout None')}; {odds})"


class _Draw:
    """The generator's random choices, in one place."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"scenario:{seed}")  # noqa: S311 - a simulation, not crypto
        self.seed = seed
        self.jobs = 0
        self.used: dict[str, set[Schedule]] = {}  # per job: every schedule it had

    def weighted(self, options: Mapping[str, float]) -> str:
        return self.rng.choices(list(options), weights=list(options.values()))[0]

    def behaviour(self, can_hang: bool, overlap: str | None, catch_up: str | None) -> Behaviour:
        rng = self.rng
        b = Behaviour(
            p_long=rng.choice((0.0, 0.0, 0.3, 0.8)),
            p_fail=rng.choice((0.0, 0.0, 0.15, 0.4)),
            p_hang=rng.choice((0.0, 0.1)) if can_hang else 0.0,
        )
        if overlap == "allow":  # hung runs side by side would fill max_parallel for good
            b = replace(b, p_hang=0.0)
        if catch_up == "all":  # up to 100 runs caught up one after the other: keep them short
            b = replace(b, p_long=0.0, p_hang=0.0, brief=True)
        return b

    def job(self) -> JobSpec:
        rng = self.rng
        self.jobs += 1
        job_id = f"job{self.jobs}-{rng.randrange(10**6)}"
        kind = self.weighted({"minute": 30, "hour": 10, "day": 6, "interval": 34, "cron": 12})
        overlap = self.weighted({"": 55, "buffer-one": 10, "skip": 20, "allow": 15}) or None
        catch_up = self.weighted({"": 50, "latest": 10, "all": 25, "none": 15}) or None
        timeout = rng.choice((None, None, rng.randint(20, 90)))
        every, interval, cron = kind, None, None
        if kind == "interval":
            every = "minute"
            choices, weights = INTERVALS, (1, 1, 1, 2, 4, 4, 4, 5)
            interval = rng.choices(choices, weights=weights)[0]
        elif kind == "cron":
            every, cron = "hour", rng.choice(CRONS)
        limit = timeout or (60 if every == "minute" else None)
        behaviour = self.behaviour(limit is not None and limit <= 90, overlap, catch_up)
        spec = JobSpec(job_id, every, behaviour, interval, cron, overlap, catch_up, timeout)
        self.used[job_id] = {spec.schedule}
        return spec

    def change(self, job: JobSpec) -> JobSpec:
        """The same job ID with a schedule it never had: another cadence, interval or cron
        (a deploy). Cadences only grow: the old cadence's rows remain."""
        rng = self.rng
        if job.interval is not None:
            options = [replace(job, interval=n) for n in INTERVALS]
        elif job.cron is not None:
            options = [replace(job, cron=c) for c in CRONS]
        else:
            order = ["minute", "hour", "day"]
            options = [replace(job, every=e) for e in order[order.index(job.every) + 1 :]]
        fresh = [o for o in options if o.schedule not in self.used[job.id]]
        if not fresh:
            return job
        changed = rng.choice(fresh)
        self.used[job.id].add(changed.schedule)
        limit = changed.timeout or (60 if changed.every == "minute" else None)
        if limit is None or limit > 90:  # a hung attempt would hold its run for an hour
            changed = replace(changed, behaviour=replace(changed.behaviour, p_hang=0.0))
        return changed

    def _uniform(self, ranges: dict[str, tuple[float, float, float]]) -> float:
        """A uniform draw from one of `ranges` (name: (weight, low, high)), chosen by weight."""
        name = self.weighted({k: v[0] for k, v in ranges.items()})
        _, low, high = ranges[name]
        return self.rng.uniform(low, high)

    def jump(self) -> float:
        """A step of the host's wall clock: mostly forward (downtime), sometimes back."""
        if self.rng.random() < 0.7:
            return self._uniform(
                {
                    "seconds": (40, 6, 90),
                    "minutes": (30, 120, 1_800),
                    "hours": (20, 3_600, 4 * 3_600),
                    "day": (10, 86_400, 90_000),
                }
            )
        return -self._uniform(
            {"seconds": (40, 6, 60), "minutes": (40, 60, 900), "more": (20, 900, 2_400)}
        )

    def gap(self) -> float:
        """Seconds between two events."""
        return self._uniform(
            {"short": (50, 0.3, 15), "medium": (40, 15, 90), "long": (10, 90, 300)}
        )


def self_down(d: _Draw) -> float:
    """How long the host is off during a downtime."""
    return d._uniform(
        {
            "minutes": (70, 60, 600),
            "hours": (20, 3_600, 6 * 3_600),
            "days": (10, 86_400, 3 * 86_400),
        }
    )


def _density(jobs: tuple[JobSpec, ...]) -> float:
    """Runs per second of these jobs."""
    return sum(1 / job.schedule.spacing for job in jobs)


def _load(jobs: tuple[JobSpec, ...]) -> float:
    """How many attempts of these jobs run at once, on average (with their retries)."""
    total = 0.0
    for job in jobs:
        b, spacing = job.behaviour, job.schedule.spacing
        short, long = b.ranges(spacing)
        mean = (1 - b.p_long) * sum(short) / 2 + b.p_long * sum(long) / 2
        mean = mean * (1 + 2 * b.p_fail) + b.p_hang * (job.timeout or 60)
        total += min(mean, 2.6 * spacing if job.overlap == "allow" else spacing) / spacing
    return total


def generate(seed: int) -> Scenario:  # noqa: PLR0912 - one draw after the other
    """The scenario of `seed` (the same for the same seed, on any machine)."""
    d = _Draw(seed)
    rng = d.rng
    mode = d.weighted({"daemons": 58, "mixed": 20, "ticks": 22})
    lease = rng.choice((120.0, 120.0, 60.0, 30.0))
    slots = 0 if mode == "ticks" else rng.choice((1, 1, 1, 2, 2, 2, 3, 3, 4))
    skews = tuple(rng.choice((0.0, 0.0, 0.0, rng.uniform(-0.4, 0.4))) for _ in range(slots))
    jobs = tuple(d.job() for _ in range(rng.choice((1, 2, 2, 2, 3, 3, 4))))
    versions = [jobs]
    events: list[tuple[float, Event]] = []
    cron = None
    if mode != "daemons":
        every = (
            rng.choice((60, 60, 60, 60, 300, 300, 3_600))
            if mode == "ticks"
            else rng.choice((60, 300, 300))
        )
        jitter = rng.choice((0.0, 0.0, rng.uniform(0.1, 5.0)))
        faults = {}
        for n in range(60):
            if rng.random() < 0.15:
                action = rng.choice(("crash", "crash", "pause"))
                seconds = rng.choice((rng.uniform(1, 30), rng.uniform(lease * 0.7, lease * 3)))
                faults[n] = Event(action, point=rng.randint(1, 8), seconds=seconds)
        cron = Cron(every, jitter, faults)
    t = 0.0
    for slot in range(slots):
        events.append((t, Event("start", slot)))
        t += rng.choice((0.0, rng.uniform(0, 30)))
    weights = {
        "start": 12,
        "crash": 12,
        "pause": 10,
        "shutdown": 8,
        "jump": 7,
        "deploy": 6,
        "downtime": 4,
        "idle": 20,
    }
    if mode == "ticks":
        weights = {"jump": 6, "deploy": 6, "idle": 30}
    span = (
        cron.every * rng.randint(3, 8 if cron.every < 3_600 else 5)
        if mode == "ticks" and cron
        else None
    )
    count = rng.randint(2, 7)
    while (span is not None and t < span) or (span is None and count > 0):
        count -= 1
        if span is None:
            # Jobs a second or two apart: the same events closer together, so that a seed
            # stays a few hundred steps of its providers.
            t += d.gap() * min(1.0, 0.1 / _density(versions[-1]))
        else:
            t += rng.uniform(0.2, 1.2) * cron.every  # type: ignore[union-attr]
        kind = d.weighted(weights)
        slot = rng.randrange(max(slots, 1))
        point = rng.choice((0, 0, rng.randint(1, 8)))
        if kind == "idle":
            continue
        if kind in ("start", "shutdown"):
            events.append((t, Event(kind, slot)))
        elif kind == "crash":
            events.append((t, Event("crash", slot, point)))
        elif kind == "pause":
            seconds = rng.choice((rng.uniform(1, 25), rng.uniform(lease * 0.7, lease * 3)))
            events.append((t, Event("pause", slot, point, seconds)))
        elif kind == "jump":
            events.append((t, Event("jump", seconds=d.jump())))
        elif kind == "deploy":
            current = list(versions[-1])
            change = d.weighted({"add": 40, "remove": 20, "cadence": 40})
            if change == "add" or (len(current) == 1 and change == "remove"):
                current.append(d.job())
            elif change == "remove":
                current.pop(rng.randrange(len(current)))
            else:
                i = rng.randrange(len(current))
                current[i] = d.change(current[i])
            versions.append(tuple(current))
            events.append((t, Event("deploy", version=len(versions) - 1)))
            if slots and rng.random() < 0.7:  # a rolling restart onto the new version
                for s in range(slots):
                    t += rng.uniform(0.5, 20)
                    events.append((t, Event(rng.choice(("shutdown", "crash")), s)))
                    t += rng.choice((0.0, rng.uniform(0.5, 10)))
                    events.append((t, Event("start", s)))
        elif kind == "downtime":
            for s in range(slots):
                events.append((t, Event(rng.choice(("shutdown", "crash")), s)))
            down = self_down(d)
            events.append((t, Event("down", seconds=down)))  # the host is off: no cron either
            t += down
            for s in range(slots):
                events.append((t, Event("start", s)))
                t += rng.choice((0.0, rng.uniform(0, 20)))
    if mode == "mixed":
        for _ in range(rng.randint(1, 6)):
            events.append((rng.uniform(0, t), Event("tick", point=rng.choice((0, 0, 3)))))
    events.sort(key=lambda e: e[0])
    max_parallel = rng.choice((8, 8, 2, 1))
    if max(_load(v) for v in versions) > 0.4 * max_parallel:
        max_parallel = 8  # leave room for what comes due: a backlog that grows is no test
    return Scenario(
        seed=seed,
        start=START + rng.uniform(0, 86_400),
        versions=tuple(versions),
        events=tuple(events),
        chaos=t + rng.uniform(0, 60),
        lease=lease,
        max_parallel=max_parallel,
        skews=skews,
        cron=cron,
        slots=slots,
    )
