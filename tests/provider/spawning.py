"""Projects whose jobs start processes of their own, for the no-orphans tests (SPEC.md 10.8.5).

A job writes ``start <pid>`` to ``<side>/<job>.log``, starts one helper process per mode,
waits until each has written its process ID to ``<side>/<mode>.pid``, writes ``spawned``,
then ends as told. The modes:

- ``plain``: a child of the job, in the job's process group;
- ``session``: a child that called ``os.setsid()`` (out of the job's process group);
- ``daemon``: double-forked: its parent calls ``os.setsid()``, forks it and exits, so it
  is orphaned;
- each with ``-stubborn``: it ignores SIGTERM.

The tests read the pids and check them in /proc, independently of the code under test, and
`reap_leftovers` SIGKILLs whatever a failing test left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MODES = ("plain", "session", "daemon")

# Ends of a job once its helpers run.
ENDINGS = {
    "return": "return",
    "raise": "raise ValueError('boom')",
    "hang": "time.sleep(600)",
    "stubborn": "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)",
    "first-hangs": "time.sleep(600) if _starts() == 1 else None",
}

_HELPER = """
import os, signal, sys, time
path, mode = sys.argv[1], sys.argv[2]
if mode.startswith(("session", "daemon")):
    os.setsid()
if mode.startswith("daemon") and os.fork():
    os._exit(0)  # the double fork: its child is orphaned
if mode.endswith("-stubborn"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(path + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace(path + ".tmp", path)
time.sleep(600)
"""

_MODULE = """
import os, signal, subprocess, sys, time
from pathlib import Path

SIDE = Path({side!r})
HELPER = {helper!r}


def _note(job, text):
    with open(SIDE / f"{{job}}.log", "a") as f:
        f.write(text + "\\n")


def _starts():
    job = os.environ["SCHEDULED_JOB_ID"]
    return sum(1 for line in open(SIDE / f"{{job}}.log") if line.startswith("start"))


def _spawn(job, modes):
    paths = []
    for mode in modes:
        path = SIDE / f"{{mode}}.pid"
        with __import__("contextlib").suppress(FileNotFoundError):
            path.unlink()  # a re-run starts its own
        subprocess.Popen([sys.executable, "-c", HELPER, str(path), mode])
        paths.append(path)
    deadline = time.monotonic() + 120
    while not all(p.exists() for p in paths) and time.monotonic() < deadline:
        time.sleep(0.01)
    _note(job, "spawned")
"""

_FUNCTION = """

def {name}():
    job = os.environ["SCHEDULED_JOB_ID"]
    _note(job, f"start {{os.getpid()}}")
    if _starts() == 1:
        _spawn(job, {modes!r})
    {ending}
    _note(job, "end")
"""


@dataclass
class Spawner:
    """A project on disk whose job starts helper processes (see the module docstring)."""

    root: Path
    side: Path
    modes: tuple[str, ...]

    @property
    def ledger(self) -> Path:
        return self.root / ".scheduled" / "ledger.sqlite3"

    def lines(self, job: str = "job") -> list[str]:
        path = self.side / f"{job}.log"
        return path.read_text().splitlines() if path.exists() else []

    def spawned(self, job: str = "job") -> bool:
        return "spawned" in self.lines(job)

    def child(self, job: str = "job") -> int:
        """The process ID of the job's first attempt (the child process)."""
        return int(next(line for line in self.lines(job) if line.startswith("start")).split()[1])

    def helpers(self) -> dict[str, int]:
        """Mode -> process ID of each helper that wrote its pid."""
        found = {}
        for mode in self.modes:
            path = self.side / f"{mode}.pid"
            if path.exists():
                found[mode] = int(path.read_text())
        return found

    def alive(self) -> dict[str, int]:
        """The helpers still running (a zombie counts as gone)."""
        return {mode: pid for mode, pid in self.helpers().items() if running(pid)}


def make_spawner(
    directory: Path,
    ending: str,
    modes: tuple[str, ...] = MODES,
    every: str = "day",
    package: str = "spawner",
) -> Spawner:
    """Write a project with one job, ``job``, that starts `modes` helpers, then `ending`."""
    side = directory / "side"
    side.mkdir(parents=True, exist_ok=True)
    folder = directory / package
    folder.mkdir(exist_ok=True)
    (folder / "__init__.py").write_text("")
    source = _MODULE.format(side=str(side), helper=_HELPER)
    source += _FUNCTION.format(name="job", modes=list(modes), ending=ENDINGS[ending])
    (folder / "jobs.py").write_text(source)
    (directory / "pyproject.toml").write_text(
        f'[tool.scheduled.job]\nevery = "{every}"\nentrypoint = "{package}.jobs:job"\n'
    )
    return Spawner(directory, side, modes)


def running(pid: int) -> bool:
    """Whether `pid` is a live process (not a zombie), by /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] != b"Z"


def processes_under(root: Path) -> list[int]:
    """Live processes with `root`, or a path below it, among their arguments."""
    below = f"{root}/".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a == below[:-1] or a.startswith(below) for a in args) and running(int(entry.name)):
            found.append(int(entry.name))
    return found


@contextmanager
def reap_leftovers(*spawners: Spawner) -> Iterator[None]:
    """SIGKILL, at the end, the helpers and children a failing test may have left running."""
    try:
        yield
    finally:
        for spawner in spawners:
            pids = [*spawner.helpers().values(), *processes_under(spawner.root)]
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
