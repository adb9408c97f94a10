"""Runners execute one attempt of a run (SPEC.md 10.8-9).

`ChildRunner` (the default) starts a child interpreter per attempt in its own session and
process group, so a job that crashes, segfaults, calls ``os._exit`` or hangs cannot take
the provider down; one thread per child watches it, reads its output (bounded: head and
tail) and enforces the timeout (SIGTERM to the group, SIGKILL after a grace period). A
child also fences itself (SPEC.md 10.4.5): it kills its process group when its provider
dies, or stops renewing the run's lease (a paused or partitioned provider).

No orphans (SPEC.md 10.8.5): the child ends what its job started before it exits (see
scheduled_spec.provider.child); when the runner must SIGKILL, it kills the child's whole
tree of descendants besides its process group, and when the child exits it SIGKILLs what is
left of its group. Call `ChildRunner.start` from a thread that outlives the attempt: on
Linux a child gets SIGTERM when the thread that started it ends (PR_SET_PDEATHSIG).
`InlineRunner` (scheduled_spec.provider.inline) calls jobs in threads of this process.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from scheduled_spec.entrypoint import Entrypoint
from scheduled_spec.provider import child
from scheduled_spec.provider.ledger import Attempt, Claim, State
from scheduled_spec.schedule import instant_key

OUTPUT_LIMIT = 64 * 1024
CHILD_SCRIPT = str(Path(child.__file__).resolve())
FAILPOINT = "SCHEDULED_FAILPOINT"  # as in scheduled_spec.provider.loop: tests crash on purpose
Sink = Callable[[str, bytes], None]


@dataclass(frozen=True)
class RunContext:
    """What a job learns about the run it executes (also its environment variables)."""

    job_id: str
    period: str
    at: str  # the slot instant, RFC 3339 UTC
    attempt: int
    run_id: str
    fence: int

    @classmethod
    def of(cls, claim: Claim, attempt: int) -> RunContext:
        """The context of `attempt` (numbered from 1) of a claimed run: its instant in RFC
        3339 UTC, with milliseconds only off the whole second."""
        at = instant_key(datetime.fromtimestamp(claim.scheduled_at, timezone.utc))
        return cls(claim.job_id, claim.period_key, at, attempt, claim.run_id, claim.fence)

    def env(self) -> dict[str, str]:
        """``SCHEDULED_JOB_ID``, ``SCHEDULED_PERIOD``, ``SCHEDULED_AT``, ... as strings."""
        return {
            "SCHEDULED_JOB_ID": self.job_id,
            "SCHEDULED_PERIOD": self.period,
            "SCHEDULED_AT": self.at,
            "SCHEDULED_ATTEMPT": str(self.attempt),
            "SCHEDULED_RUN_ID": self.run_id,
            "SCHEDULED_FENCE": str(self.fence),
        }


_CURRENT: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar(
    "scheduled_run", default=None
)


def current_run() -> RunContext | None:
    """The run an inline job is executing for (child jobs read the environment instead)."""
    return _CURRENT.get()


@dataclass(frozen=True)
class RunSpec:
    """One attempt to execute: what, for which run, where, and its limits (seconds)."""

    entrypoint: Entrypoint
    context: RunContext
    root: Path | None
    timeout: float
    kill_grace: float
    started_at: float  # wall clock, Unix seconds, for the record
    not_before: float = 0.0  # time.monotonic() before which a runner that waits must not call
    # Seconds the attempt may run without `RunHandle.renew` (0: no limit); a child process
    # kills its own group after that, even when its provider is paused or gone.
    fence_after: float = 0.0


class RunHandle(Protocol):
    """A started attempt."""

    def poll(self) -> Attempt | None:
        """The attempt's outcome once it ended (or timed out), else None."""
        ...

    def stop(self, why: str = "stopped at shutdown") -> None:
        """Stop the attempt; it ends as ABANDONED, with `why` as its error."""
        ...

    def renew(self, seconds: float) -> None:
        """The run's lease was renewed: the attempt may go on `seconds` more (see fence_after)."""
        ...


class Runner(Protocol):
    """Starts attempts. `done` is called (from any thread) when an attempt ends.

    A runner whose `waits` is True honours `RunSpec.not_before`: the provider may hand it
    a run claimed ahead of its slot, and the runner starts it at the slot.
    """

    waits: bool

    def start(self, spec: RunSpec, done: Callable[[], None]) -> RunHandle:
        """Start one attempt. Raises OSError when it cannot be started."""
        ...

    def close(self) -> None:
        """Release threads and pools."""
        ...


class _Output:
    """The first and last `limit / 2` bytes of a stream, and how many were dropped."""

    def __init__(self, limit: int) -> None:
        self.half = limit // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        excess = len(self.tail) - self.half
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def text(self) -> str:
        middle = f"\n[... {self.dropped} bytes omitted ...]\n".encode() if self.dropped else b""
        return bytes(self.head + middle + self.tail).decode("utf-8", "replace")


def signal_name(number: int) -> str:
    """``SIGSEGV`` for 11; ``signal 99`` for numbers without a name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class _ChildHandle:
    def __init__(
        self, spec: RunSpec, done: Callable[[], None], limit: int, sink: Sink | None
    ) -> None:
        self.spec = spec
        self._done = done
        self._sink = sink
        self._output = _Output(limit)
        self._result: Attempt | None = None
        self._stop_at: float | None = None
        self._reason: State | None = None
        self._why = ""
        self._lock = threading.Lock()
        error_r, error_w = os.pipe()
        self._wake_r, self._wake_w = os.pipe()
        # The child reads its lease renewals from fence_r; the provider alone holds fence_w, so
        # the child sees end-of-file the moment the provider dies, however it dies.
        # Every child gets the pipe: its end of file is how a child learns of its provider's
        # death where no PR_SET_PDEATHSIG reaches it (a job that handles SIGTERM itself).
        fence_r, self._fence_w = os.pipe()
        os.set_blocking(self._fence_w, False)
        root = str(spec.root) if spec.root is not None else ""
        try:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    CHILD_SCRIPT,
                    str(spec.entrypoint),
                    root,
                    str(error_w),
                    str(os.getpid()),
                    str(fence_r),
                    repr(max(0.0, spec.fence_after)),
                    repr(spec.kill_grace),
                ],
                cwd=root or None,
                env={**os.environ, **spec.context.env()},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                pass_fds=(error_w, fence_r),
            )
        except OSError:
            for fd in (error_r, error_w, self._wake_r, self._wake_w, fence_r, self._fence_w):
                os.close(fd)
            raise
        if os.environ.get(FAILPOINT) == "after-child-start":
            os.kill(os.getpid(), signal.SIGKILL)  # the provider dies as its child starts
        os.close(error_w)
        os.close(fence_r)
        self._error_r = error_r
        self._error = b""
        self._pidfd: int | None = (
            os.pidfd_open(self._proc.pid) if hasattr(os, "pidfd_open") else None
        )
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="scheduled-child", daemon=True)
        self._thread.start()

    def poll(self) -> Attempt | None:
        return self._result

    def stop(self, why: str = "stopped at shutdown") -> None:
        with self._lock:
            if self._result is not None or self._reason is not None:
                return
            self._reason, self._why = State.ABANDONED, why
        self._signal(signal.SIGTERM)
        self._stop_at = time.monotonic() + self.spec.kill_grace
        with self._lock:  # the watcher closes it when the child ended meanwhile
            if self._wake_w >= 0:
                os.write(self._wake_w, b"x")

    def renew(self, seconds: float) -> None:
        with self._lock:
            if self._fence_w < 0 or self._result is not None or self.spec.fence_after <= 0:
                return
            # The child is gone or its pipe is full (it is paused too): nothing to tell.
            with contextlib.suppress(OSError):
                os.write(self._fence_w, f"{max(0.0, seconds):.3f}\n".encode())

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def _kill(self) -> None:
        """SIGKILL the child, every process below it, and its process group.

        Called only while the child is not reaped: its ID (its group's ID) is still ours.
        The child being a subreaper, the processes below it are all its descendants.
        """
        child.kill_tree(self._proc.pid, with_root=True)
        self._signal(signal.SIGKILL)

    def _exited(self) -> bool:
        """Whether the child exited, leaving it unreaped (its ID stays ours) where possible."""
        if not hasattr(os, "waitid") or not hasattr(os, "WNOWAIT"):
            return self._proc.poll() is not None
        try:
            flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
            return os.waitid(os.P_PID, self._proc.pid, flags) is not None
        except ChildProcessError:
            return True

    def _enforce(self, now: float) -> float | None:
        """Apply the timeout and the kill grace; return how long to wait for events."""
        deadline = self._started + self.spec.timeout
        if now >= deadline and self._reason is None:
            with self._lock:
                self._reason = State.TIMED_OUT
            self._signal(signal.SIGTERM)
            self._stop_at = now + self.spec.kill_grace
        if self._stop_at is not None and now >= self._stop_at:
            self._kill()
            self._stop_at = None
        limits = [deadline] if self._reason is None else []
        if self._stop_at is not None:
            limits.append(self._stop_at)
        if self._pidfd is None:
            limits.append(now + 0.05)  # no pidfd: poll for the exit
        # epoll cannot wait longer than ~24 days: a monthly timeout is waited for in steps.
        return min(max(0.0, min(limits) - now), 3_600.0) if limits else 3_600.0

    def _pump(self, sel: selectors.BaseSelector, wait: float | None) -> int:
        """Read what is ready; return how many output streams reached their end."""
        ended = 0
        for key, _ in sel.select(wait):
            name = key.data
            if name == "exit":
                sel.unregister(key.fileobj)
                continue
            data = os.read(key.fd, 65536)
            if name == "wake":
                continue
            if not data:
                sel.unregister(key.fileobj)
                ended += 1
            elif name == "error":
                self._error += data
            else:
                self._output.add(data)
                if self._sink is not None:
                    self._sink(name, data)
        return ended

    def _watch(self) -> None:
        try:
            self._supervise()
        except BaseException as exc:  # noqa: BLE001 - the provider must always hear back
            if self._proc.returncode is None:
                self._kill()
            self._reason = None
            self._result = Attempt(
                self.spec.context.attempt,
                State.FAILED,
                self.spec.started_at,
                time.monotonic() - self._started,
                f"runner error: {child.summary(exc)}",
                self._output.text(),
            )
            self._done()

    def _supervise(self) -> None:
        proc = self._proc
        pipes = {"stdout": proc.stdout, "stderr": proc.stderr}
        sel = selectors.DefaultSelector()
        for name, pipe in pipes.items():
            if pipe is not None:
                sel.register(pipe.fileno(), selectors.EVENT_READ, name)
        sel.register(self._error_r, selectors.EVENT_READ, "error")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        if self._pidfd is not None:
            sel.register(self._pidfd, selectors.EVENT_READ, "exit")
        open_streams = 3
        exited_at: float | None = None
        while True:
            now = time.monotonic()
            if exited_at is None and self._exited():
                exited_at = now
                # What is left of its group (it died before ending its job's processes:
                # os._exit, a crash, a SIGKILL) must not outlive the attempt.
                self._signal(signal.SIGKILL)
            if exited_at is not None and (open_streams == 0 or now - exited_at > 1.0):
                break  # after 1 s, a grandchild holding the pipes open is not waited for
            wait = self._enforce(now) if exited_at is None else exited_at + 1.0 - now
            open_streams -= self._pump(sel, wait)
        returncode = proc.wait()
        sel.close()
        for fd in (self._error_r, self._wake_r, self._pidfd):
            if fd is not None:
                os.close(fd)
        with self._lock:  # stop() and renew() write to these from other threads
            for fd in (self._wake_w, self._fence_w):
                if fd >= 0:
                    os.close(fd)
            self._wake_w = self._fence_w = -1
        for pipe in pipes.values():
            if pipe is not None:
                pipe.close()
        self._finish(returncode, self._error.decode("utf-8", "replace").strip())

    def _finish(self, returncode: int, text: str) -> None:
        spec = self.spec
        duration = time.monotonic() - self._started
        lines = text.splitlines()
        stopped = [line[len(child.ABANDON) :] for line in lines if line.startswith(child.ABANDON)]
        summary = "\n".join(line for line in lines if line and not line.startswith(child.ABANDON))
        if self._reason is State.TIMED_OUT:
            outcome, error = State.TIMED_OUT, f"timed out after {spec.timeout:g} s"
        elif self._reason is State.ABANDONED:
            outcome, error = State.ABANDONED, self._why
        elif stopped:  # the child stopped itself for its provider's sake: to be run again
            outcome, error = State.ABANDONED, f"stopped by its child: {stopped[0]}"
        elif returncode == 0:
            outcome, error = State.SUCCEEDED, None
        elif returncode < 0:
            outcome, error = State.FAILED, f"killed by {signal_name(-returncode)}"
        else:
            outcome, error = State.FAILED, summary or f"exit code {returncode}"
        self._result = Attempt(
            spec.context.attempt, outcome, spec.started_at, duration, error, self._output.text()
        )
        self._done()


class ChildRunner:
    """Run each attempt in a child interpreter (see the module docstring).

    It starts the child when asked (`waits` is False): the provider calls it at the slot.

    `sink`, when given, receives each chunk of output as it arrives (``run-once`` streams
    it to the terminal).
    """

    waits = False

    def __init__(self, *, output_limit: int = OUTPUT_LIMIT, sink: Sink | None = None) -> None:
        self._limit = output_limit
        self._sink = sink

    def start(self, spec: RunSpec, done: Callable[[], None]) -> RunHandle:
        return _ChildHandle(spec, done, self._limit, self._sink)

    def close(self) -> None:
        pass
