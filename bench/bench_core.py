"""Side-by-side benchmarks of the spec core against its peers (issue 2, "Performance").

Three comparisons, each measured in one run, interleaved round by round, and reported as
the ratio of medians (ours / peer; below 1 means we are faster):

    next_run   `next_run` for 100,000 jobs versus `croniter.get_next` on each job's
               equivalent cron expression (two readings: with and without constructing
               the croniter objects)
    load       `load()` of a generated 10,000-job pyproject.toml versus stdlib
               `tomllib.loads` of the same text; also `tomli.loads` versus `tomllib.loads`
    validate   `scheduled validate FILE` versus `validate-pyproject FILE`, each as a whole
               process, on a 5-job pyproject.toml

Usage (from the repository root, with the `bench` extra installed):

    .venv/bin/python bench/bench_core.py              # all three; writes bench/results/core.md
    .venv/bin/python bench/bench_core.py next_run     # one of them; prints only
    .venv/bin/python bench/bench_core.py --quick      # smoke run: small sizes, few rounds

This is a script, not a test: the machine it runs on decides the figures.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import venv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

import tomli
import tomli._parser
import tomllib
from croniter import croniter
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scheduled_spec import Cadence, Job, load, next_run, slot_offset

UTC = timezone.utc
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "core.md"
# The instant every job is asked about: a Tuesday morning, mid-month.
AFTER = datetime(2026, 11, 24, 10, 31, 7, tzinfo=UTC)


# --------------------------------------------------------------------------------------
# Measurements and the report


@dataclass
class Sample:
    """The timings (seconds) of one side of a comparison, one per round."""

    label: str
    times: list[float] = field(default_factory=list)
    per: int = 1  # items handled per timing, for a per-item figure

    @property
    def median(self) -> float:
        return statistics.median(self.times)


@dataclass
class Row:
    """One line of the results table: ours against a peer, with the ratio's target."""

    benchmark: str
    ours: Sample
    peer: Sample
    target: float | None  # the largest ratio that passes; None: for information only
    share: bool = False  # the ratio is a part of the peer's time, not a speed comparison

    @property
    def ratio(self) -> float:
        return self.ours.median / self.peer.median

    @property
    def min_ratio(self) -> float:
        """min(ours) / min(peer): a cross-check, as noise on a busy machine only adds time."""
        return min(self.ours.times) / min(self.peer.times)

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "info"
        return "pass" if self.ratio <= self.target else "**FAIL**"


def timed(action: Callable[[], object]) -> float:
    """Seconds taken by `action()`, with the cyclic GC collected before and paused during.

    Every in-process timing pauses the collector this way (croniter's two loops inline), so
    the pause is fair to both sides; it keeps a collection set off by the other side's
    garbage out of a timing.
    """
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        action()
        return time.perf_counter() - start
    finally:
        gc.enable()


def fmt_time(seconds: float) -> str:
    if abs(seconds) >= 1:
        return f"{seconds:.2f} s"
    if abs(seconds) >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.2f} µs"


def fmt_cell(sample: Sample) -> str:
    text = f"{fmt_time(sample.median)}"
    if sample.per > 1:
        text += f" ({fmt_time(sample.median / sample.per)}/item)"
    return f"{sample.label}: {text}"


def fmt_ratio(ratio: float) -> str:
    if ratio < 1:
        return f"{ratio:.3f} ({1 / ratio:.{1 if ratio < 0.1 else 2}f}x faster)"
    return f"{ratio:.3f} ({ratio:.2f}x slower)"


def fmt_target(target: float | None) -> str:
    if target is None:
        return "-"
    if target < 0.2:
        return f"<= {target:g} (>= {1 / target:g}x faster)"
    return f"<= {target:g}"


def table(rows: Sequence[Row]) -> str:
    lines = [
        (
            "| benchmark | ours (median) | peer (median) | ratio ours/peer | target | result"
            " | ratio of minimums |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    lines.extend(
        f"| {r.benchmark} | {fmt_cell(r.ours)} | {fmt_cell(r.peer)}"
        f" | {f'{r.ratio:.0%} of it' if r.share else fmt_ratio(r.ratio)}"
        f" | {fmt_target(r.target)} | {r.verdict}"
        f" | {'-' if r.share else f'{r.min_ratio:.3f}'} |"
        for r in rows
    )
    return "\n".join(lines)


def details(rows: Sequence[Row]) -> str:
    lines = [
        "| measurement | rounds | min | median | max |",
        "|---|---|---|---|---|",
    ]
    seen: set[int] = set()
    for row in rows:
        for sample in (row.ours, row.peer):
            if id(sample) in seen:
                continue
            seen.add(id(sample))
            lines.append(
                f"| {sample.label} | {len(sample.times)} | {fmt_time(min(sample.times))}"
                f" | {fmt_time(sample.median)} | {fmt_time(max(sample.times))} |"
            )
    return "\n".join(lines)


def environment() -> str:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    compiled = str(tomli._parser.__file__).endswith((".so", ".pyd"))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, read-only
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "scheduled_spec"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        tree = f"{commit}" + (
            " plus uncommitted changes in scheduled_spec/ (measured as found on disk)"
            if dirty
            else " (scheduled_spec/ clean)"
        )
    except (OSError, subprocess.CalledProcessError):
        tree = "unknown (no git)"
    return "\n".join(
        [
            f"- code measured: {tree}",
            (
                f"- Python {platform.python_version()} ({platform.python_implementation()}),"
                f" {platform.platform()}, {os.cpu_count()} CPUs"
            ),
            (
                f"- tomli {version('tomli')} ({'compiled wheel' if compiled else 'pure Python'}),"
                f" pydantic {version('pydantic')}, croniter {version('croniter')},"
                f" validate-pyproject {version('validate-pyproject')}"
            ),
        ]
    )


# --------------------------------------------------------------------------------------
# Realistic jobs: IDs, cadences and entrypoints as a large multi-tenant host would see them

_VERBS = (
    "sync", "clean", "send", "rotate", "refresh", "export", "import", "rebuild", "prune",
    "backup", "reindex", "compact", "notify", "bill", "archive", "poll", "warm", "check",
    "expire", "aggregate",
)  # fmt: skip
_NOUNS = (
    "orders", "invoices", "cache", "sessions", "search-index", "thumbnails", "digest",
    "metrics", "api-keys", "tokens", "reports", "users", "audit-logs", "webhooks", "feeds",
    "certificates", "payouts", "inventory",
)  # fmt: skip
_SCOPES = ("", "-eu-west-1", "-us-east-2", "-ap-south-1", "-staging", "-v2", "-primary")
_PACKAGES = ("app", "shop", "billing", "platform.tasks", "core.maintenance")
# A plausible mix: mostly daily and hourly housekeeping, some weekly and monthly reports.
_CADENCE_WEIGHTS = {
    Cadence.MINUTE: 5,
    Cadence.HOUR: 25,
    Cadence.DAY: 40,
    Cadence.WEEK: 20,
    Cadence.MONTH: 10,
}


@dataclass(frozen=True)
class Declaration:
    job_id: str
    every: Cadence
    entrypoint: str


def declarations(count: int, seed: int = 2) -> list[Declaration]:
    """`count` distinct, portable job declarations, the same for a given seed."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
    cadences = list(_CADENCE_WEIGHTS)
    weights = list(_CADENCE_WEIGHTS.values())
    seen: set[str] = set()
    found = []
    while len(found) < count:
        verb, noun = rng.choice(_VERBS), rng.choice(_NOUNS)
        job_id = f"{verb}-{noun}{rng.choice(_SCOPES)}"
        if job_id in seen:  # beyond a few thousand, IDs carry a tenant number, as on a host
            job_id = f"{job_id}-t{rng.randrange(100_000):05d}"
            if job_id in seen:
                continue
        seen.add(job_id)
        func = f"{verb}_{noun.replace('-', '_')}"
        if rng.random() < 0.2:
            func = f"{noun.title().replace('-', '')}Jobs.{verb}_all"  # "import" is a keyword
        entrypoint = f"{rng.choice(_PACKAGES)}.jobs:{func}"
        found.append(Declaration(job_id, rng.choices(cadences, weights)[0], entrypoint))
    return found


def cron_expression(every: Cadence, offset: int) -> str:
    """The croniter expression that fires exactly at a job's slot.

    croniter's six-field form puts the seconds field LAST ("M H DoM Mon DoW S", its
    default ``second_at_beginning=False``). A week slot's day 0 is Monday: cron weekday 1,
    and croniter reads 7 as Sunday. A month slot's day is at most 28, so it exists in every
    month, as a day-of-month does not need to fall back.
    """
    days, rest = divmod(offset, 86_400)
    hour, rest = divmod(rest, 3_600)
    minute, second = divmod(rest, 60)
    if every is Cadence.MINUTE:
        return f"* * * * * {second}"
    if every is Cadence.HOUR:
        return f"{minute} * * * * {second}"
    if every is Cadence.DAY:
        return f"{minute} {hour} * * * {second}"
    if every is Cadence.WEEK:
        return f"{minute} {hour} * * {days + 1} {second}"
    return f"{minute} {hour} {days + 1} * * {second}"


# --------------------------------------------------------------------------------------
# 1. next_run versus croniter


def check_same_instants(jobs: Sequence[Job], exprs: Sequence[str], sample: int) -> int:
    """Assert that next_run and croniter agree on `sample` jobs at awkward instants."""
    edges = [
        AFTER,
        datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),  # year end
        datetime(2027, 2, 28, 23, 59, 59, tzinfo=UTC),  # end of a short month
        datetime(2028, 2, 28, 23, 59, 59, tzinfo=UTC),  # before a leap day
        datetime(2028, 2, 29, 12, 0, 0, tzinfo=UTC),  # on a leap day
        datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC),  # Sunday night, ISO week end
    ]
    rng = random.Random(7)  # noqa: S311 - a reproducible sample, not a secret
    indexes = rng.sample(range(len(jobs)), min(sample, len(jobs)))
    checked = 0
    for i in indexes:
        job, expr = jobs[i], exprs[i]
        first = next_run(job, AFTER).at
        # Exactly at a run and one second before it: "strictly after" on both sides.
        for after in [*edges, first, first - timedelta(seconds=1)]:
            ours = next_run(job, after).at
            theirs = croniter(expr, after).get_next(datetime)
            assert ours == theirs, (
                f"{job.id} ({job.every}, {expr!r}) after {after}: {ours} != {theirs}"
            )
            checked += 1
    return checked


def bench_next_run(jobs_count: int, rounds: int) -> list[Row]:
    decls = declarations(jobs_count)

    def fresh_jobs() -> list[Job]:
        # New objects, so that nothing a Job may cache (its offsets) survives from a
        # previous timing: what a provider has right after load().
        return [Job(id=d.job_id, every=d.every, entrypoint=d.entrypoint) for d in decls]

    jobs = fresh_jobs()
    exprs = [cron_expression(job.every, slot_offset(job.id, job.every)) for job in jobs]
    checked = check_same_instants(fresh_jobs(), exprs, sample=500)
    print(f"next_run: {checked} (job, instant) pairs agree with croniter", file=sys.stderr)

    first = Sample("next_run, first call per job", per=jobs_count)
    again = Sample("next_run, repeat call per job", per=jobs_count)
    built_and_next = Sample("croniter(expr, after) + get_next", per=jobs_count)
    next_only = Sample("get_next on built croniter", per=jobs_count)

    def run_ours(jobs: list[Job]) -> None:
        after = AFTER
        for job in jobs:
            next_run(job, after)

    def time_ours() -> None:
        jobs = fresh_jobs()
        first.times.append(timed(lambda: run_ours(jobs)))
        again.times.append(timed(lambda: run_ours(jobs)))

    def run_croniter() -> tuple[float, float]:
        # Construction and get_next in two timed loops over the same objects: their sum is
        # "construct + get_next", the second alone is "get_next on a ready object".
        after = AFTER
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            iters = [croniter(expr, after) for expr in exprs]
            built = time.perf_counter()
            for it in iters:
                it.get_next(datetime)
            done = time.perf_counter()
        finally:
            gc.enable()
        return done - start, done - built

    # Warm-up on a slice: imports, caches and the interpreter's specialisation.
    warm = 2_000
    for job, expr in zip(fresh_jobs()[:warm], exprs[:warm], strict=True):
        next_run(job, AFTER)
        next_run(job, AFTER)
        croniter(expr, AFTER).get_next(datetime)
    del jobs

    for r in range(rounds):
        print(f"next_run: round {r + 1}/{rounds}", file=sys.stderr)
        # Ours is cheap: time it on both sides of croniter, so drift within a round shows.
        time_ours()
        both, alone = run_croniter()
        built_and_next.times.append(both)
        next_only.times.append(alone)
        time_ours()

    n = f"{jobs_count:,}"
    return [
        Row(
            f"next_run x{n}, first call vs croniter construct + get_next",
            first,
            built_and_next,
            0.05,
        ),
        # Unequal on purpose, for information: our one-time per-job hash is in, croniter's
        # one-time per-job parse is out. The two rows with targets compare like with like.
        Row(
            f"next_run x{n}, first call vs croniter get_next alone (unequal: our hash in,"
            " croniter's parse out)",
            first,
            next_only,
            None,
        ),
        Row(f"next_run x{n}, repeat call vs croniter get_next alone", again, next_only, 0.05),
    ]


# --------------------------------------------------------------------------------------
# 2. load() versus tomllib.loads

_PROJECT_HEADER = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "tenant-jobs"
version = "3.4.1"
description = "Scheduled jobs of a large multi-tenant application"
requires-python = ">=3.10"
dependencies = ["httpx>=0.27", "sqlalchemy>=2", "pydantic>=2.6"]

[tool.ruff]
line-length = 100

# One table per job: [tool.scheduled.<job-id>] with every and entrypoint.
"""


def pyproject_text(decls: Sequence[Declaration]) -> str:
    parts = [_PROJECT_HEADER]
    for i, d in enumerate(decls):
        if i % 50 == 0:
            parts.append(f"\n# --- jobs {i + 1} to {i + 50} ---")
        parts.append(
            f'\n[tool.scheduled.{d.job_id}]\nevery = "{d.every.value}"\n'
            f'entrypoint = "{d.entrypoint}"\n'
        )
    return "".join(parts)


def bench_load(jobs_count: int, rounds: int) -> list[Row]:
    decls = declarations(jobs_count)
    text = pyproject_text(decls)
    # The same text with one job ID that is valid but not portable: one warning.
    odd = decls[jobs_count // 2].job_id
    warned_text = text.replace(f"[tool.scheduled.{odd}]", f"[tool.scheduled.{odd}_Legacy]", 1)

    assert tomllib.loads(text) == tomli.loads(text)
    project = load(text)
    assert [j.id for j in project.jobs] == [d.job_id for d in decls]
    assert [j.every for j in project.jobs] == [d.every for d in decls]
    assert not project.issues
    assert [i.code for i in load(warned_text).issues] == ["SCH014"]
    print(f"load: {jobs_count:,} jobs, {len(text):,} characters", file=sys.stderr)

    std = Sample("tomllib.loads")
    fast = Sample("tomli.loads")
    ours = Sample("load()")
    warned = Sample("load(), 1 warning")
    sides: list[tuple[Sample, Callable[[], object]]] = [
        (std, lambda: tomllib.loads(text)),
        (fast, lambda: tomli.loads(text)),
        (ours, lambda: load(text)),
        (warned, lambda: load(warned_text)),
    ]
    for _, action in sides:  # warm-up
        action()
        action()
    for r in range(rounds):
        shift = r % len(sides)  # rotate the order every round
        for sample, action in sides[shift:] + sides[:shift]:
            sample.times.append(timed(action))

    validation = Sample("load() - tomli.loads")
    validation.times = [a - b for a, b in zip(ours.times, fast.times, strict=True)]
    n = f"{jobs_count:,}"
    return [
        Row(f"load() of {n} jobs vs tomllib.loads of the same text", ours, std, 0.6),
        Row(f"tomli.loads vs tomllib.loads ({n}-job text)", fast, std, None),
        Row(
            "validation share: (load() - tomli.loads) / load()", validation, ours, None, share=True
        ),
        Row(f"load() of {n} jobs with 1 warning vs tomllib.loads", warned, std, None),
    ]


# --------------------------------------------------------------------------------------
# 3. scheduled validate versus validate-pyproject, whole processes

_SMALL_PROJECT = """\
[project]
name = "demo"
version = "1.0.0"
requires-python = ">=3.10"

[tool.scheduled.clean-files]
every = "day"
entrypoint = "app.jobs:clean_files"

[tool.scheduled.refresh-cache]
every = "hour"
entrypoint = "app.jobs:refresh_cache"

[tool.scheduled.send-digest]
every = "week"
entrypoint = "app.jobs:send_digest"

[tool.scheduled.rotate-keys]
every = "month"
entrypoint = "app.jobs:rotate_keys"

[tool.scheduled.heartbeat]
every = "minute"
entrypoint = "app.jobs:Heartbeat.beat"
"""


def run_process(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stdout!r}")
    return took


_CONSOLE_SCRIPT = """\
#!{python}
import re
import sys
from {module} import {attr}
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit({attr}())
"""


def _closure(requirements: Sequence[str]) -> list[metadata.Distribution]:
    """The installed distributions that `requirements` need, extras and markers applied."""
    found: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed here either
        found[name] = dist
        for text in dist.requires or ():
            sub = Requirement(text)
            extras = req.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    return list(found.values())


def clean_venv(where: Path, requirement: str, script: str) -> Path:
    """A fresh virtualenv holding one tool and what it requires, copied from this one.

    Why not measure in our own virtualenv: scheduled-spec registers a validate-pyproject
    plugin (an entry point), and validate-pyproject imports every registered plugin when it
    starts, even one disabled with ``-D``, so there the peer's time contains ours; our
    editable install also adds an import hook that a wheel install does not have. The
    copies are the files installed here (the same versions); scheduled-spec, installed in
    editable mode, is copied from the working tree. Returns the console script `script`.
    """
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(where)
    scheme = {"base": str(where), "platbase": str(where)}
    site = Path(sysconfig.get_path("purelib", "venv", vars=scheme))
    bindir = Path(sysconfig.get_path("scripts", "venv", vars=scheme))
    entry = None
    for dist in _closure([requirement]):
        for file in dist.files or ():
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue  # scripts are written below; bytecode: see bench_validate
            if file.name.startswith("__editable__"):
                continue  # the editable hook; the package itself is copied below
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(str(dist.locate_file(file))), target)
        if canonicalize_name(dist.metadata["Name"]) == "scheduled-spec":
            shutil.copytree(
                ROOT / "scheduled_spec",
                site / "scheduled_spec",
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        entry = entry or next(
            (e for e in dist.entry_points if e.group == "console_scripts" and e.name == script),
            None,
        )
    if entry is None:
        raise SystemExit(f"no console script {script!r} in {requirement}")
    module, attr = entry.value.split(":")
    path = bindir / script
    path.write_text(
        _CONSOLE_SCRIPT.format(python=bindir / "python", module=module, attr=attr),
        encoding="utf-8",
    )
    path.chmod(0o755)
    return path


def bench_validate(repetitions: int) -> list[Row]:
    bindir = Path(sys.executable).parent
    scheduled, vp = bindir / "scheduled", bindir / "validate-pyproject"
    for tool in (scheduled, vp):
        if not tool.exists():
            raise SystemExit(f"{tool} not found: install the project with its bench extra")
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        cwd = Path(tmp) / "project"
        cwd.mkdir()
        (cwd / "pyproject.toml").write_text(_SMALL_PROJECT, encoding="utf-8")
        ours_alone = clean_venv(Path(tmp) / "ours", "scheduled-spec", "scheduled")
        peer_alone = clean_venv(Path(tmp) / "peer", "validate-pyproject[all]", "validate-pyproject")
        # Every process gets bytecode caches, as after a pip install: the warm-up runs write
        # them under one private prefix. PYTHONDONTWRITEBYTECODE (set on some machines)
        # would make a side whose files were never compiled recompile them on every start.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        commands = {
            "ours": [str(ours_alone), "validate", "pyproject.toml"],
            "peer": [str(peer_alone), "pyproject.toml"],
            "ours-venv": [str(scheduled), "validate", "pyproject.toml"],
            "peer-venv": [str(vp), "pyproject.toml"],
            "floor": [str(ours_alone.parent / "python"), "-c", "pass"],
        }
        expected = {"ours": "ok, 5 jobs", "ours-venv": "ok, 5 jobs"}
        for name, command in commands.items():
            out = subprocess.run(
                command, cwd=cwd, env=env, capture_output=True, text=True, check=False
            )
            assert out.returncode == 0, f"{command}: {out.stdout}{out.stderr}"
            assert expected.get(name, "Valid file" if "peer" in name else "") in out.stdout
        listing = subprocess.run(
            [str(peer_alone), "--help"], capture_output=True, text=True, check=True
        )
        assert "'scheduled'" not in listing.stdout, "the peer alone sees the scheduled plugin"
        samples = {
            "ours": Sample("scheduled validate (clean venv)"),
            "peer": Sample("validate-pyproject (clean venv)"),
            "ours-venv": Sample("scheduled validate (.venv)"),
            "peer-venv": Sample("validate-pyproject (.venv, loads our plugin)"),
            "floor": Sample("python -c pass (clean venv)"),
        }
        order = list(samples.items())
        for _ in range(3):  # warm-up: page cache and bytecode caches
            for name, _sample in order:
                run_process(commands[name], cwd, env)
        for r in range(repetitions):
            sequence = order if r % 2 == 0 else order[::-1]  # A B C D E, E D C B A, ...
            for name, sample in sequence:
                sample.times.append(run_process(commands[name], cwd, env))
    return [
        Row(
            "`scheduled validate` (5 jobs) vs `validate-pyproject`, each alone in a clean venv",
            samples["ours"],
            samples["peer"],
            0.8,
        ),
        Row(
            "the same, both in our dev `.venv` (editable install; the peer loads our plugin)",
            samples["ours-venv"],
            samples["peer-venv"],
            None,
        ),
        Row(
            "interpreter start-up (`python -c pass`) vs `validate-pyproject`, clean venvs",
            samples["floor"],
            samples["peer"],
            None,
        ),
    ]


# --------------------------------------------------------------------------------------


def _shown(path: Path) -> str:
    """`path` relative to the repository when inside it (``.venv/bin/python``)."""
    try:
        return str(path.absolute().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "which", nargs="?", default="all", choices=["all", "next_run", "load", "validate"]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds")
    parser.add_argument(
        "--output",
        type=Path,
        help=f"write the report here (default: {RESULTS.relative_to(ROOT)} for a full run of all)",
    )
    args = parser.parse_args(argv)
    chosen = ["next_run", "load", "validate"] if args.which == "all" else [args.which]

    started = time.perf_counter()
    rows: list[Row] = []
    if "next_run" in chosen:
        rows += bench_next_run(10_000 if args.quick else 100_000, 2 if args.quick else 3)
    if "load" in chosen:
        rows += bench_load(1_000 if args.quick else 10_000, 3 if args.quick else 11)
    if "validate" in chosen:
        rows += bench_validate(4 if args.quick else 30)
    elapsed = time.perf_counter() - started

    report = "\n\n".join(
        [
            "# scheduled-spec core benchmarks",
            (
                "Ratio = median(ours) / median(peer), both measured in the same run,"
                " interleaved. Below 1 is faster. See bench/README.md for what each line measures."
            ),
            table(rows),
            "## Rounds\n\n" + details(rows),
            "## Environment\n\n"
            + environment()
            + f"\n- command: `{_shown(Path(sys.executable))} bench/bench_core.py"
            + (f" {args.which}" if args.which != "all" else "")
            + (" --quick" if args.quick else "")
            + f"`, {elapsed:.0f} s wall time",
        ]
    )
    print(report)
    output = args.output
    if output is None and args.which == "all" and not args.quick:
        output = RESULTS
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report + "\n", encoding="utf-8")
        print(f"\nwritten to {output}", file=sys.stderr)
    return 1 if any(r.verdict == "**FAIL**" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
