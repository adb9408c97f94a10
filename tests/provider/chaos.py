"""A chaos harness with real processes: `scheduled run` providers on one ledger, faults from
a seed, and an oracle that is the jobs' own log checked against an independent schedule.

The project's jobs are the oracle (TESTING.md 1). Each run appends lines to one log file
opened with ``O_APPEND``, each line written with one ``write``::

    start|end|overlap|overlap-period JOB PERIOD ATTEMPT PID PROVIDER FENCE UNIX-TIME

and holds two non-blocking ``flock`` locks until its process exits: one per job (when another
attempt of the job holds it, the run notes ``overlap``) and one per (job, period)
(``overlap-period``). PROVIDER is the tag of the provider process that started the run
(``a.2``: provider ``a``, second start), inherited through the environment.

`run_scenario` starts N providers on one SQLite file or PostgreSQL schema, injects faults
(kill -9 and restart, SIGTERM and restart, SIGSTOP past the lease then SIGCONT, and for
PostgreSQL ``pg_terminate_backend`` of the providers' connections) at random points drawn
from a seed, or as a scripted plan. Then it restarts whatever is down, waits (with a
deadline) until the ledger accounts for every run instant so far, stops everything with
SIGTERM and counts, from the log, the ledger's skipped and missed rows (read through
``scheduled history --format json``) and a schedule model written from SPEC.md alone
(9.6.2 and 5.1; it imports nothing from scheduled_spec):

- expected: the run instants after first sight (the first provider's "provider started"
  line, seen by the harness, plus `FIRST_SIGHT_ALLOWANCE`) and before the clean stop less a
  grace (runs due just before a clean stop may be pending, to run at the next start);
- ran: those with an ``end`` line; skipped / missed: those a ledger row records so;
- lost: those with neither; overlaps: ``overlap`` lines (of jobs whose `overlap` is not
  ``allow``) and ``overlap-period`` lines; duplicates_without_a_crash: a period's second
  ``end`` when the provider of no earlier ended attempt was killed (-9) or paused between
  that attempt's start and this one's.

The promise (SPEC.md 10.1, 10.6.1) is lost == overlaps == duplicates_without_a_crash == 0.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from tests.conftest import ROOT
from tests.provider.replicas import alive

UTC = timezone.utc
PERIOD_SECONDS = {"minute": 60, "hour": 3_600, "day": 86_400}
KEY_FORMATS = {"minute": "%Y-%m-%dT%H:%M", "hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d"}
# Ledger states that account for a run instant that did not run, as its policy allows.
ALLOWED_STATES = ("skipped", "missed", "paused")
# Faults after which a period may legitimately end twice (the provider could not record).
CRASHES = ("kill", "stop")
FAULTS = ("kill", "term", "stop", "pg-terminate")
# The provider decides what is due a few ms after it logs "provider started"; this keeps a
# busy machine from making the model expect an instant that came before that decision.
FIRST_SIGHT_ALLOWANCE = 1.0
FIGURES_ENV = "SCHEDULED_TEST_FIGURES"


# --- the project: jobs that are the oracle --------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One job of a chaos project: how long each run takes and when it runs."""

    id: str
    seconds: float
    interval: float | None = None  # `interval = N` seconds; None: the slot of `every`
    every: str = "minute"
    overlap: str | None = None
    catch_up: str | None = None

    @property
    def function(self) -> str:
        return "job_" + self.id.replace("-", "_")


_MODULE = '''"""Chaos jobs: each run notes its start and end; it locks its job and its period."""
import fcntl
import os
import time

LOG = {log!r}
LOCKS = {locks!r}
_HELD = []


def _note(kind, job, period, attempt):
    e = os.environ
    line = (
        f"{{kind}} {{job}} {{period}} {{attempt}} {{os.getpid()}} "
        f"{{e.get('CHAOS_PROVIDER', '-')}} {{e.get('SCHEDULED_FENCE', '-')}} {{time.time():.6f}}\\n"
    )
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _lock(name):
    f = open(os.path.join(LOCKS, name), "w")
    _HELD.append(f)  # held until the process exits
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def run(seconds):
    e = os.environ
    job, period, attempt = e["SCHEDULED_JOB_ID"], e["SCHEDULED_PERIOD"], e["SCHEDULED_ATTEMPT"]
    alone = _lock(job + ".lock")
    only = _lock(job + "@" + period + ".lock")
    _note("start", job, period, attempt)
    if not alone:
        _note("overlap", job, period, attempt)
    if not only:
        _note("overlap-period", job, period, attempt)
    time.sleep(seconds)
    _note("end", job, period, attempt)
'''


def _toml_value(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


@dataclass(frozen=True)
class Project:
    """A chaos project on disk: its root, the jobs' log and their lock directory."""

    root: Path
    jobs: tuple[Job, ...]
    log: Path
    locks: Path

    def lines(self) -> list[Line]:
        return read_log(self.log)


def make_project(directory: Path, jobs: Sequence[Job]) -> Project:
    """Write ``pyproject.toml`` and ``chaos_jobs.py`` for `jobs` under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    log, locks = directory / "runs.log", directory / "locks"
    locks.mkdir(exist_ok=True)
    source = _MODULE.format(log=str(log), locks=str(locks))
    tables = []
    for job in jobs:
        source += f"\n\ndef {job.function}():\n    run({job.seconds!r})\n"
        keys = {"every": job.every, "entrypoint": f"chaos_jobs:{job.function}"}
        optional = {"interval": job.interval, "overlap": job.overlap, "catch-up": job.catch_up}
        keys.update({k: v for k, v in optional.items() if v is not None})  # type: ignore[misc]
        body = "".join(f"{k} = {_toml_value(v)}\n" for k, v in keys.items())
        tables.append(f"[tool.scheduled.{job.id}]\n{body}")
    (directory / "chaos_jobs.py").write_text(source)
    (directory / "pyproject.toml").write_text("\n".join(tables))
    return Project(directory, tuple(jobs), log, locks)


@dataclass(frozen=True)
class Line:
    """One line of the jobs' log."""

    kind: str
    job: str
    period: str
    attempt: int
    pid: int
    provider: str
    fence: str
    time: float


def read_log(path: Path) -> list[Line]:
    """Every complete line of the log (a line being written when read is left out)."""
    if not path.exists():
        return []
    lines = []
    for text in path.read_text().splitlines(keepends=True):
        w = text.split()
        if text.endswith("\n") and len(w) == 8:
            lines.append(Line(w[0], w[1], w[2], int(w[3]), int(w[4]), w[5], w[6], float(w[7])))
    return lines


# --- the schedule, from SPEC.md alone ---------------------------------------------------------


def _digest(job_id: str) -> int:
    """SPEC.md 5.1: the first eight bytes of SHA-256 of the job ID (no salt), big-endian."""
    return int.from_bytes(hashlib.sha256(job_id.encode("utf-8")).digest()[:8], "big")


def slot_offset(job_id: str, every: str) -> int:
    """SPEC.md 5.1: seconds from the start of each period of `every` to the job's slot."""
    return _digest(job_id) % PERIOD_SECONDS[every]


def _ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def instant_key(ms: int) -> str:
    """SPEC.md 9.6.3: RFC 3339 UTC, with milliseconds only when not on a whole second."""
    text = _utc(ms - ms % 1000).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def run_instants(job: Job, after: float, until: float) -> list[tuple[int, str]]:
    """(instant in Unix ms, period key) of each run of `job` in ``(after, until]``.

    `interval`: ticks at ``phase + k * N`` with the phase the SHA-256 rule modulo N in ms
    (SPEC.md 9.6.2); otherwise one slot per period of `every` (5.1).
    """
    lo, hi = round(after * 1000), round(until * 1000)
    found = []
    if job.interval is not None:
        step = round(job.interval * 1000)
        phase = _digest(job.id) % step
        t = phase + ((lo - phase) // step + 1) * step
        while t <= hi:
            found.append((t, instant_key(t)))
            t += step
        return found
    length = PERIOD_SECONDS[job.every] * 1000
    offset = slot_offset(job.id, job.every) * 1000
    start = lo - lo % length - length
    while start + offset <= hi:
        if start + offset > lo:
            found.append((start + offset, _utc(start).strftime(KEY_FORMATS[job.every])))
        start += length
    return found


def key_instant(job: Job, key: str) -> int | None:
    """The run instant (Unix ms) a period key names, or None when it is no key of `job`."""
    try:
        if job.interval is not None:
            ms = _ms(datetime.fromisoformat(key.replace("Z", "+00:00")))
            step = round(job.interval * 1000)
            on_grid = key.endswith("Z") and (ms - _digest(job.id) % step) % step == 0
            return ms if on_grid and instant_key(ms) == key else None
        start = _ms(datetime.strptime(key, KEY_FORMATS[job.every]).replace(tzinfo=UTC))
    except ValueError:
        return None
    return start + slot_offset(job.id, job.every) * 1000


# --- the ledger, through `scheduled history --format json` --------------------------------------


@dataclass(frozen=True)
class Record:
    """One history line: a job, a state and the first and last period keys it covers."""

    job: str
    state: str
    first: str
    last: str


def ledger_records(root: Path, url: str) -> list[Record]:
    """What the ledger recorded, read with ``scheduled history --format json``."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "scheduled_spec", "history", str(root), "--ledger", url),
            *("--format", "json", "--limit", "1000000000"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"scheduled history failed ({done.returncode}): {done.stderr}")
    return [
        Record(e["job"], e["state"], e["period"], e["last_period"] or e["period"])
        for e in json.loads(done.stdout)
    ]


# --- the figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One injected fault: when (Unix time), what, and which provider process.

    `until`: when a paused provider was resumed (``stop``); None for the others (a killed
    provider process never comes back: its restart is another generation).
    """

    at: float
    kind: str
    provider: str
    until: float | None = None


@dataclass
class Figures:
    """What the log, the ledger and the model say about one scenario."""

    expected: int = 0
    ran: int = 0
    skipped: int = 0
    missed: int = 0
    lost: int = 0
    overlaps: int = 0
    duplicates_without_a_crash: int = 0
    duplicates_after_a_crash: int = 0
    runs_inside_missed: int = 0  # ran, yet inside a missed row's range
    off_schedule: int = 0  # log lines whose period is no run instant of the job
    attempts: int = 0  # start lines
    faults: dict[str, int] = field(default_factory=dict)
    unexpected_exits: int = 0  # providers that exited without being signalled
    unclean_exits: int = 0  # SIGTERMed providers that did not exit 0
    tracebacks: int = 0  # "Traceback" in the providers' logs
    lost_examples: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        keys = ("expected", "ran", "skipped", "missed", "lost", "overlaps")
        text = ", ".join(f"{k} {getattr(self, k)}" for k in keys)
        return (
            f"{text}, duplicates_without_a_crash {self.duplicates_without_a_crash}"
            f" (after a crash {self.duplicates_after_a_crash}), faults {self.faults}"
        )


class _Covered:
    """Instants (Unix ms) a job's ledger rows in one state cover: single instants in a set,
    ranges (gap rows) in a list, so that a long soak is counted in linear time."""

    def __init__(self) -> None:
        self.points: set[int] = set()
        self.spans: list[tuple[int, int]] = []

    def add(self, lo: int, hi: int) -> None:
        if lo == hi:
            self.points.add(lo)
        else:
            self.spans.append((lo, hi))

    def __contains__(self, t: int) -> bool:
        return t in self.points or any(lo <= t <= hi for lo, hi in self.spans)


def _ranges(job: Job, records: Sequence[Record]) -> dict[str, _Covered]:
    """What the job's ledger rows in each allowed state cover."""
    found: dict[str, _Covered] = defaultdict(_Covered)
    for r in records:
        if r.job != job.id or r.state not in ALLOWED_STATES:
            continue
        lo, hi = key_instant(job, r.first), key_instant(job, r.last)
        if lo is not None and hi is not None:
            found[r.state].add(lo, hi)
    return found


def _duplicates(mine: Sequence[Line], crashes: dict[str, list[Fault]]) -> tuple[int, int]:
    """(without a crash, after one): a period's ends beyond its first, by explanation.

    A later end is explained when the provider of an earlier ended attempt crashed after
    starting that attempt and before the later one started: killed before the later start
    (a killed process started nothing after its death, so its attempt came before), or
    paused before the later start and resumed after the earlier start (its child starts a
    moment after the provider spawned it: an attempt whose start line comes during the pause
    was spawned before it).
    """
    starts = {line.pid: line for line in mine if line.kind == "start"}
    by_period: dict[str, list[Line]] = defaultdict(list)
    for line in mine:
        if line.kind == "end" and line.pid in starts:
            by_period[line.period].append(starts[line.pid])
    unexplained = explained = 0
    for attempts in by_period.values():
        attempts.sort(key=lambda s: s.time)
        for i, later in enumerate(attempts[1:], 1):
            if any(
                f.at <= later.time and (f.until is None or earlier.time < f.until)
                for earlier in attempts[:i]
                for f in crashes[earlier.provider]
            ):
                explained += 1
            else:
                unexplained += 1
    return unexplained, explained


def count(
    jobs: Iterable[Job],
    lines: Sequence[Line],
    records: Sequence[Record],
    *,
    first_sight: float,
    until: float,
    faults: Sequence[Fault] = (),
) -> Figures:
    """The figures of the instants in ``(first_sight, until]``, from the log and the ledger."""
    figures = Figures(attempts=sum(1 for line in lines if line.kind == "start"))
    figures.faults = dict(Counter(f.kind for f in faults))
    crashes: dict[str, list[Fault]] = defaultdict(list)
    for f in faults:
        if f.kind in CRASHES:
            crashes[f.provider].append(f)
    for job in jobs:
        mine = [line for line in lines if line.job == job.id]
        ranges = _ranges(job, records)
        figures.off_schedule += sum(1 for line in mine if key_instant(job, line.period) is None)
        ended = {line.period for line in mine if line.kind == "end"}
        for t, key in run_instants(job, first_sight, until):
            figures.expected += 1
            if key in ended:
                figures.ran += 1
                figures.runs_inside_missed += t in ranges["missed"]
            elif t in ranges["skipped"] or t in ranges["paused"]:
                figures.skipped += 1
            elif t in ranges["missed"]:
                figures.missed += 1
            else:
                figures.lost += 1
                examples = figures.lost_examples.setdefault(job.id, [])
                if len(examples) < 5:
                    examples.append(key)
        figures.overlaps += sum(
            1
            for line in mine
            if line.kind == "overlap-period" or (line.kind == "overlap" and job.overlap != "allow")
        )
        unexplained, explained = _duplicates(mine, crashes)
        figures.duplicates_without_a_crash += unexplained
        figures.duplicates_after_a_crash += explained
    return figures


def write_figures(name: str, seed: int | None, figures: Figures, **more: object) -> None:
    """Append the figures as one JSON line to the file named by SCHEDULED_TEST_FIGURES."""
    path = os.environ.get(FIGURES_ENV)
    if not path:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    data = {"test": test or name, "scenario": name, "seed": seed, **more, **asdict(figures)}
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(json.dumps(data) + "\n")


# --- provider processes -------------------------------------------------------------------------


@dataclass
class ProviderProcess:
    """One ``scheduled run`` in its own session; restarted as generations ``a.1``, ``a.2``..."""

    name: str
    args: tuple[str, ...]
    log: Path
    generation: int = 0
    process: subprocess.Popen[bytes] | None = None
    state: str = "down"  # down | up | paused | stopping

    @property
    def tag(self) -> str:
        return f"{self.name}.{self.generation}"

    def start(self) -> None:
        self.generation += 1
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scheduled_spec", "run", *self.args],
                cwd=ROOT,
                env={**os.environ, "CHAOS_PROVIDER": self.tag},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.state = "up"

    def started(self) -> bool:
        """Whether this generation has logged "provider started"."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count("provider started") >= self.generation

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            if sig in (signal.SIGSTOP, signal.SIGCONT):
                os.killpg(self.process.pid, sig)  # the provider's group: not its children
            else:
                self.process.send_signal(sig)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float) -> int:
        """SIGTERM and wait; the exit status (-9 after SIGKILL when `timeout` passes)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.send(signal.SIGCONT)
            self.send(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.state = "down"
        return self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGCONT)
            self.process.kill()
            self.process.wait()
        self.state = "down"


@contextlib.contextmanager
def cleanup(providers: Sequence[ProviderProcess], project: Project) -> Iterator[None]:
    """SIGKILL every provider still running at the end, and any job process left behind."""
    try:
        yield
    finally:
        for p in providers:
            p.kill()
        for line in project.lines():
            if line.kind == "start" and alive(line.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(line.pid, signal.SIGKILL)


# --- the scenario -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """A scripted fault: `at` seconds into the chaos phase, on provider number `provider`,
    restarted (kill, term) or resumed (stop) `down` seconds later."""

    at: float
    kind: str
    provider: int = 0
    down: float = 0.0


@dataclass(frozen=True)
class Scenario:
    """Providers, jobs and faults; `plan` replaces the random faults when given."""

    name: str
    jobs: tuple[Job, ...]
    providers: int = 1
    seconds: float = 20.0  # the chaos phase
    seed: int = 0
    faults: tuple[str, ...] = ("kill", "term", "stop")
    plan: tuple[Planned, ...] | None = None
    mean_gap: float = 4.0  # mean seconds between random faults
    most_down: float = 1.5  # most seconds a killed or stopped provider stays down
    lease: float = 4.0
    args: tuple[str, ...] = ()  # more `scheduled run` options
    drain: float = 30.0  # most seconds the quiet phase waits for every instant's record
    shutdown_timeout: float = 60.0

    @property
    def grace(self) -> float:
        """Seconds before the clean stop whose instants may legitimately be pending."""
        longest = max(j.seconds for j in self.jobs)
        step = max(j.interval or 60.0 for j in self.jobs)
        return 2 * longest + step + 2.0


@dataclass
class Result:
    """A scenario's figures and what produced them."""

    scenario: Scenario
    figures: Figures
    faults: list[Fault]
    project: Project
    logs: list[Path]
    first_sight: float
    until: float
    exits: list[int]

    def report(self, reproduce: str = "") -> str:
        f = self.figures
        lines = [
            f"{self.scenario.name} (seed {self.scenario.seed}): {f.summary()}",
            f"lost, first of each job: {f.lost_examples}" if f.lost else "",
            f"runs inside a missed row: {f.runs_inside_missed}, off schedule: {f.off_schedule}",
            (
                f"unexpected exits {f.unexpected_exits}, unclean exits {f.unclean_exits},"
                f" final exits {self.exits}, tracebacks {f.tracebacks}"
            ),
            f"log {self.project.log}; faults {self.project.root / 'faults.jsonl'}",
            f"provider logs {[str(p) for p in self.logs]}",
            f"reproduce: {reproduce}" if reproduce else "",
        ]
        return "\n".join(line for line in lines if line)

    def write_figures(self) -> None:
        """The figures as one JSON line in the file named by SCHEDULED_TEST_FIGURES."""
        s = self.scenario
        write_figures(s.name, s.seed, self.figures, seconds=s.seconds)

    def assert_kept(self, reproduce: str = "") -> None:
        """lost == overlaps == duplicates_without_a_crash == 0, or fail with the figures
        (written to SCHEDULED_TEST_FIGURES first, when it is set)."""
        self.write_figures()
        f = self.figures
        kept = f.lost == 0 and f.overlaps == 0 and f.duplicates_without_a_crash == 0
        assert kept, self.report(reproduce)


def _terminate_backends(server_url: str, pattern: str) -> int:
    import psycopg  # noqa: PLC0415 - only PostgreSQL scenarios need it

    with psycopg.connect(server_url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE %s",
            (pattern,),
        ).fetchall()
    return len(found)


class _Run:
    """The event loop of one scenario (`run_scenario`)."""

    def __init__(
        self, scenario: Scenario, project: Project, ledger_url: str, server_url: str | None
    ) -> None:
        self.s, self.project, self.url, self.server = scenario, project, ledger_url, server_url
        self.token = secrets.token_hex(4)
        self.rng = random.Random(scenario.seed)  # noqa: S311 - a reproducible fault schedule
        self.faults: list[Fault] = []
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = 0
        self.unexpected = self.unclean = 0
        self.restart_after: dict[str, float] = {}
        self.providers = [
            ProviderProcess(name, self._args(name), project.root / f"provider-{name}.log")
            for name in "abcdefghijklmnopqrstuvwxyz"[: scenario.providers]
        ]

    def _args(self, name: str) -> tuple[str, ...]:
        url = self.url
        if self.server is not None:  # name each connection, for pg_terminate_backend
            url += f"{'&' if '?' in url else '?'}application_name=chaos-{self.token}-{name}"
        return (
            str(self.project.root),
            "--ledger",
            url,
            "--lease",
            f"{self.s.lease:g}",
            *self.s.args,
        )

    def at(self, when: float, action: Callable[[], None]) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, action))

    def fault(self, kind: str, p: ProviderProcess, down: float) -> None:
        now = time.monotonic()
        self.faults.append(Fault(time.time(), kind, p.tag))
        if kind == "kill":
            p.send(signal.SIGKILL)
            assert p.process is not None
            p.process.wait()
            p.state = "down"
            self.at(now + down, lambda: self.restart(p))
        elif kind == "term":
            p.send(signal.SIGTERM)
            p.state = "stopping"
            self.restart_after[p.name] = down
        elif kind == "stop":
            p.send(signal.SIGSTOP)
            p.state = "paused"
            self.at(now + down, lambda: self.resume(p))
        elif kind == "pg-terminate":
            assert self.server is not None
            _terminate_backends(self.server, f"chaos-{self.token}-%")

    def restart(self, p: ProviderProcess) -> None:
        if p.state == "down":
            p.start()

    def resume(self, p: ProviderProcess) -> None:
        if p.state == "paused":
            p.send(signal.SIGCONT)
            p.state = "up"
            for i in reversed(range(len(self.faults))):
                f = self.faults[i]
                if f.kind == "stop" and f.provider == p.tag and f.until is None:
                    self.faults[i] = replace(f, until=time.time())
                    break

    def random_fault(self) -> None:
        kinds = [k for k in self.s.faults if k != "pg-terminate" or self.server is not None]
        kind = self.rng.choice(kinds)
        up = [p for p in self.providers if p.state == "up"]
        if up:
            p = self.rng.choice(up)
            pause = self.s.lease * self.rng.uniform(1.2, 1.8)
            self.fault(kind, p, pause if kind == "stop" else self.rng.uniform(0, self.s.most_down))
        self.at(time.monotonic() + self.rng.uniform(0.2, 2 * self.s.mean_gap), self.random_fault)

    def poll(self) -> None:
        """Notice exits: a stopping provider restarts after its delay; others unexpectedly."""
        for p in self.providers:
            code = p.exited()
            if code is None or p.state == "down":
                continue
            if p.state == "stopping":
                self.unclean += code != 0
                p.state = "down"
                delay = self.restart_after.pop(p.name, 0.0)
                self.at(time.monotonic() + delay, partial(self.restart, p))
            elif p.state == "up":
                self.unexpected += 1
                p.state = "down"
                p.start()

    def step_until(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            while self.events and self.events[0][0] <= time.monotonic():
                heapq.heappop(self.events)[2]()
            self.poll()
            time.sleep(0.02)

    def records(self) -> list[Record]:
        return ledger_records(self.project.root, self.url)

    def lost_until(self, first_sight: float, until: float) -> int:
        lines = self.project.lines()
        figures = count(
            self.project.jobs, lines, self.records(), first_sight=first_sight, until=until
        )
        return figures.lost

    def start(self) -> float:
        """Start every provider; first sight (Unix time): when the first one has started."""
        for p in self.providers:
            p.start()
        deadline = time.monotonic() + 60
        while not any(p.started() for p in self.providers):
            assert time.monotonic() < deadline, "no provider started within 60 s"
            self.poll()
            time.sleep(0.01)
        return time.time() + FIRST_SIGHT_ALLOWANCE

    def chaos(self) -> None:
        """The faults: drawn from the seed, or the scenario's plan."""
        s, t0 = self.s, time.monotonic()
        if s.plan is None:
            self.at(t0 + self.rng.uniform(0.2, 2 * s.mean_gap), self.random_fault)
        else:
            for planned in s.plan:
                p = self.providers[planned.provider]
                self.at(t0 + planned.at, partial(self.fault, planned.kind, p, planned.down))
        self.step_until(t0 + s.seconds)

    def all_up(self) -> None:
        """No more faults: resume and restart every provider now."""
        pending = sorted(self.events)
        self.events.clear()
        for when, _, action in pending:
            if action != self.random_fault:
                self.at(min(when, time.monotonic()), action)
        stuck = time.monotonic() + self.s.shutdown_timeout
        while any(p.state != "up" for p in self.providers):
            for p in self.providers:
                if p.state == "paused":
                    self.resume(p)
                elif p.state == "down":
                    p.start()
                elif p.state == "stopping" and time.monotonic() > stuck:
                    p.kill()  # a SIGTERM it never acted on: unclean, and up again next round
                    self.unclean += 1
            self.restart_after.clear()
            self.step_until(time.monotonic() + 0.05)

    def run(self) -> Result:
        s = self.s
        first_sight = self.start()
        self.chaos()
        self.all_up()
        quiet = time.time()
        deadline = time.monotonic() + s.drain
        while time.monotonic() < deadline and self.lost_until(first_sight, quiet) > 0:
            self.step_until(time.monotonic() + 1.0)
        stop_at = time.time()
        exits = [p.stop(s.shutdown_timeout) for p in self.providers]
        until = max(quiet, stop_at - s.grace)
        figures = count(
            s.jobs,
            self.project.lines(),
            self.records(),
            first_sight=first_sight,
            until=until,
            faults=self.faults,
        )
        figures.unexpected_exits, figures.unclean_exits = self.unexpected, self.unclean
        logs = [p.log for p in self.providers]
        figures.tracebacks = sum(log.read_text(errors="replace").count("Traceback") for log in logs)
        with (self.project.root / "faults.jsonl").open("w") as out:  # beside the logs
            out.writelines(json.dumps(asdict(f)) + "\n" for f in self.faults)
        return Result(s, figures, self.faults, self.project, logs, first_sight, until, exits)


def run_scenario(
    scenario: Scenario,
    directory: Path,
    *,
    ledger_url: str | None = None,
    server_url: str | None = None,
) -> Result:
    """Run `scenario` in `directory` on `ledger_url` (default: an SQLite file there).

    `server_url` (PostgreSQL scenarios) is where the harness terminates the providers'
    backends (fault ``pg-terminate``).
    """
    project = make_project(directory, scenario.jobs)
    url = ledger_url or f"sqlite:///{directory / 'ledger.sqlite3'}"
    run = _Run(scenario, project, url, server_url)
    with cleanup(run.providers, project):
        return run.run()


@contextlib.contextmanager
def at_once(runs: Mapping[str, Callable[[], Result]]) -> Iterator[dict[str, Future[Result]]]:
    """Start every run in its own thread; each test awaits its own (``.result()``).

    The scenarios' providers and jobs are other processes that mostly wait on the clock, so
    several scenarios share the wall time of the longest: the suite stays fast, and each
    scenario runs on a machine made busy by the others.
    """
    with ThreadPoolExecutor(max(1, len(runs)), thread_name_prefix="chaos") as pool:
        yield {name: pool.submit(run) for name, run in runs.items()}


def selected(items: Iterable[object], module: object) -> set[str]:
    """The names of `module`'s tests among a pytest session's `items` (those it will run)."""
    return {
        str(getattr(item, "originalname", ""))
        for item in items
        if getattr(item, "module", None) is module
    }


# --- jobs the scenarios share -----------------------------------------------------------------


def mixed_jobs() -> tuple[Job, ...]:
    """Jobs of `interval = 1` longer than their interval (periods queue behind a running
    attempt; one skips, one runs side by side) and quick ones."""
    return (
        Job("queues", 2.5, interval=1),
        Job("queues-briefly", 1.5, interval=1),
        Job("skips", 1.5, interval=1, overlap="skip"),
        Job("side-by-side", 1.5, interval=1, overlap="allow"),
        Job("quick", 0.05, interval=1),
        Job("quick-2s", 0.05, interval=2),
    )


def env_float(name: str, default: float) -> float:
    """A float from the environment, or `default`."""
    value = os.environ.get(name, "")
    return float(value) if value else default


def env_seed(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value else default
