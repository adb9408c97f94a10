"""Helpers for the replica scenarios: projects whose jobs say who ran them, replica processes
in their own process groups, and a TCP proxy that cuts a replica off from PostgreSQL.

Every job appends ``start <period> <fence> <replica> <pid>`` when it starts and ``end
<period> <fence> <replica>`` when it ends cleanly to ``<side>/<job>.log``, so the tests
count what jobs did (not what the ledger believes) and know which replica did it.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT

_MODULE = """
import os, time
from pathlib import Path

SIDE = Path({side!r})


def _note(text):
    job = os.environ["SCHEDULED_JOB_ID"]
    with open(SIDE / f"{{job}}.log", "a") as f:
        f.write(text + "\\n")


def _run(seconds, first_seconds=None):
    e = os.environ
    period, fence, replica = e["SCHEDULED_PERIOD"], e["SCHEDULED_FENCE"], e["REPLICA"]
    log = SIDE / f"{{e['SCHEDULED_JOB_ID']}}.log"
    first = not log.exists() or f"start {{period}} " not in log.read_text()
    _note(f"start {{period}} {{fence}} {{replica}} {{os.getpid()}}")
    time.sleep(first_seconds if first and first_seconds is not None else seconds)
    _note(f"end {{period}} {{fence}} {{replica}}")


def quick():
    _run(0.05)


def first_hangs():
    _run(0.05, first_seconds=600)


def first_slow():
    _run(0.05, first_seconds=4)
"""


@dataclass
class Start:
    """One start of a job, as the job wrote it."""

    period: str
    fence: int
    replica: str
    pid: int


@dataclass
class Project:
    """A project on disk whose jobs note who ran them."""

    root: Path
    side: Path

    def lines(self, job: str) -> list[list[str]]:
        path = self.side / f"{job}.log"
        return [line.split() for line in path.read_text().splitlines()] if path.exists() else []

    def starts(self, job: str) -> list[Start]:
        return [Start(w[1], int(w[2]), w[3], int(w[4])) for w in self.lines(job) if w[0] == "start"]

    def ends(self, job: str) -> list[tuple[str, int, str]]:
        """(period, fence, replica) of each clean end."""
        return [(w[1], int(w[2]), w[3]) for w in self.lines(job) if w[0] == "end"]

    def ended_periods(self, job: str) -> Counter[str]:
        return Counter(period for period, _, _ in self.ends(job))


def make_project(directory: Path, jobs: dict[str, tuple[str, str]]) -> Project:
    """Jobs ID -> (cadence, "quick" | "first_hangs" | "first_slow"), in package `replicas`."""
    side = directory / "side"
    side.mkdir(parents=True, exist_ok=True)
    package = directory / "replica_jobs"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "jobs.py").write_text(_MODULE.format(side=str(side)))
    toml = [
        f'[tool.scheduled.{job}]\nevery = "{every}"\nentrypoint = "replica_jobs.jobs:{kind}"\n'
        for job, (every, kind) in jobs.items()
    ]
    (directory / "pyproject.toml").write_text("\n".join(toml))
    return Project(directory, side)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie or a stopped-then-killed process is not running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class Replica:
    """One ``scheduled run`` process in its own session (so it can be paused as a group)."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str]
    log: Path
    generation: int = 0
    process: subprocess.Popen[bytes] | None = None
    killed: list[str] = field(default_factory=list)  # REPLICA values of killed generations

    @property
    def tag(self) -> str:
        """What this generation's jobs write as their replica (REPLICA)."""
        return f"{self.name}.{self.generation}"

    def start(self) -> None:
        self.generation += 1
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scheduled_spec", "run", *self.args],
                cwd=ROOT,
                env={**os.environ, **self.env, "REPLICA": self.tag},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def started(self) -> bool:
        """Whether this generation has logged "provider started" (its signal handlers are
        in place and it has opened the ledger)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count("provider started") >= self.generation

    def kill(self) -> None:
        """kill -9 of the provider alone (its children fence themselves)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.killed.append(self.tag)

    def signal_group(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM; the exit status (SIGKILL after `timeout` s, then -9)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process is not None else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@contextlib.contextmanager
def replicas(*made: Replica, start: bool = True) -> Iterator[tuple[Replica, ...]]:
    """Start every replica (unless not `start`); SIGKILL whatever still runs at the end."""
    for replica in made if start else ():
        replica.start()
    try:
        yield made
    finally:
        for replica in made:
            if replica.running():
                assert replica.process is not None
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(replica.process.pid, signal.SIGCONT)
                replica.process.kill()
                replica.process.wait()


class Proxy:
    """A TCP proxy on loopback in front of PostgreSQL that the test can cut.

    `cut()` closes every connection through it and refuses new ones (they are accepted and
    closed at once, as by a server that went away); `restore()` forwards again.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sel = selectors.DefaultSelector()
        self._peers: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._refusing = False
        self._closing = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="proxy", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._sel.register(self._listener, selectors.EVENT_READ, "accept")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        while not self._closing:
            for key, _ in self._sel.select(0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if key.data == "wake":
                    sock.recv(64)
                elif key.data == "accept":
                    self._accept()
                else:
                    self._pump(sock)

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        with self._lock:
            refusing = self._refusing
        if refusing:
            client.close()
            return
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        with self._lock:
            self._peers[client], self._peers[server] = server, client
        for sock in (client, server):
            self._sel.register(sock, selectors.EVENT_READ, "pump")

    def _pump(self, sock: socket.socket) -> None:
        with self._lock:
            peer = self._peers.get(sock)
        data = b""
        with contextlib.suppress(OSError):
            data = sock.recv(65536)
        if peer is None or not data:
            self._close(sock)
            return
        try:
            peer.sendall(data)
        except OSError:
            self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            peer = self._peers.pop(sock, None)
            if peer is not None:
                self._peers.pop(peer, None)
        for s in (sock, peer):
            if s is None:
                continue
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(s)
            with contextlib.suppress(OSError):
                s.close()

    def cut(self) -> None:
        with self._lock:
            self._refusing = True
            socks = list(self._peers)
        for sock in socks:  # shut down from here; the loop closes them
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._wake_w.send(b"x")

    def restore(self) -> None:
        with self._lock:
            self._refusing = False

    def close(self) -> None:
        self._closing = True
        self.cut()
        self._thread.join(5)
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        for sock in list(self._peers):
            self._close(sock)
