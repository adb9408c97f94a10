"""What runs inside the child process of one attempt (SPEC.md 10.8).

``python .../child.py ENTRYPOINT ROOT FD PROVIDER FENCE_FD SECONDS GRACE``: put ROOT first
on sys.path, import the entrypoint, call it, await what it returns when that is awaitable.
The file runs as a script and imports nothing of scheduled_spec (whose package imports
pydantic), so starting a child costs little more than starting Python. On an exception
the traceback goes to stderr, a one-line summary to file descriptor FD, and the exit code
is 1. A ``SystemExit`` from the job keeps its own code.

The child answers for what its job starts (SPEC.md 10.8.5):

- It never begins the job once its provider (process ID PROVIDER, 0: unchecked) is gone:
  on Linux the provider's death sends it SIGTERM (PR_SET_PDEATHSIG), and it checks its
  parent before importing the job and again before calling it.
- No process the job started outlives the attempt: on Linux the child is a subreaper
  (PR_SET_CHILD_SUBREAPER), so the job's orphaned descendants, setsid'ed or double-forked
  ones included, become its children. When the job returns or raises, and on SIGTERM (the
  runner's timeout or stop), the child sends its remaining descendants SIGTERM, SIGKILL
  after half of GRACE (the runner's kill grace), and reaps them before it exits.
- A watcher thread reads FENCE_FD, a pipe only the provider writes: at its end of file (the
  provider died, however) or when no lease renewal (a line holding the seconds the run may
  go on) arrived within SECONDS (0: no limit), it writes an ABANDON line on FD, SIGKILLs
  every descendant and its own process group: a paused, partitioned or killed provider
  never leaves its job running past its lease, where another replica may take the run
  over (SPEC.md 10.4.5).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import time
from collections.abc import Awaitable
from types import FrameType
from typing import Any

# The line a child writes on FD when it stops itself for its provider's sake (lease not
# renewed, provider gone): the runner records the attempt abandoned, to be run again.
ABANDON = "scheduled-abandon: "
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def call(target: Any) -> None:
    """Call `target` with no arguments; run it to completion if it returns an awaitable.

    asyncio and inspect are imported only then: importing asyncio alone takes longer than
    starting the interpreter, and most jobs are plain functions.
    """
    result = target()
    if result is None or not hasattr(result, "__await__"):
        return
    import asyncio  # noqa: PLC0415
    import inspect  # noqa: PLC0415

    if inspect.iscoroutine(result):
        asyncio.run(result)
        return

    async def wait(awaitable: Awaitable[Any]) -> None:
        await awaitable

    asyncio.run(wait(result))


def resolve(entrypoint: str) -> Any:
    """Import ``module:attr.attr`` (already validated by the provider) and return it."""
    module, _, attribute = entrypoint.partition(":")
    target: Any = importlib.import_module(module)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def summary(exc: BaseException) -> str:
    """``ValueError: boom``: the exception's type and first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def descendants(root: int) -> list[int]:
    """IDs of the processes below `root`, zombies included, found through the parent links
    of ``/proc/*/stat``; [] where there is no /proc."""
    below: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")  # noqa: PTH208 - pathlib would slow every child's start
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:  # noqa: PTH123 - as above
                data = stat.read()
        except OSError:
            continue  # it just exited
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = data[data.rfind(b")") + 2 :].split()
        if len(fields) > 1 and fields[1].isdigit():
            below.setdefault(int(fields[1]), []).append(int(name))
    found: dict[int, None] = {}
    todo = [root]
    while todo:
        for pid in below.get(todo.pop(), ()):
            if pid not in found and pid != root:
                found[pid] = None
                todo.append(pid)
    return list(found)


def _send(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def kill_tree(root: int, *, with_root: bool = False) -> None:
    """SIGKILL every process below `root` (and `root` itself `with_root`).

    They are stopped first, and the tree is walked again until no new process shows up:
    a stopped process cannot fork, and a stopped parent cannot reap a child whose ID then
    goes to another process.
    """
    seen: dict[int, None] = dict.fromkeys([root] if with_root else [])
    _send(list(seen), signal.SIGSTOP)
    for _ in range(100):
        fresh = [pid for pid in descendants(root) if pid not in seen]
        if not fresh:
            break
        _send(fresh, signal.SIGSTOP)
        seen.update(dict.fromkeys(fresh))
    _send(list(seen), signal.SIGKILL)


def _reap() -> bool:
    """Reap the children that exited; True while some child is left."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _report(fd: int, text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, text.encode("utf-8", "replace")[:2000])


class _Attempt:
    """The child's side of one attempt: its provider, its descendants, its signals."""

    def __init__(self, fd: int, provider: int, grace: float) -> None:
        self.fd, self.provider, self.grace = fd, provider, grace
        self.subreaper = False
        self.ending = False

    def guard(self) -> None:
        """Become a subreaper and get SIGTERM when the provider dies (Linux); exit when it
        is gone already."""
        signal.signal(signal.SIGTERM, self._terminated)
        if sys.platform.startswith("linux"):
            import ctypes  # noqa: PLC0415 - only on Linux, for prctl

            libc = ctypes.CDLL(None, use_errno=True)
            ulong = ctypes.c_ulong
            on = libc.prctl(_PR_SET_CHILD_SUBREAPER, ulong(1), ulong(0), ulong(0), ulong(0))
            self.subreaper = on == 0
            libc.prctl(_PR_SET_PDEATHSIG, ulong(signal.SIGTERM), ulong(0), ulong(0), ulong(0))
        self.check_provider()

    def check_provider(self) -> None:
        """Exit at once, without running the job, when the provider is not the parent any more."""
        if self.provider and os.getppid() != self.provider:
            _report(self.fd, f"\n{ABANDON}the provider is gone\n")
            os._exit(1)

    def watch(self, fd: int, seconds: float) -> None:
        """Stop the attempt when no renewal arrives on `fd` in time (0: never), or it closes."""
        import select  # noqa: PLC0415 - only for provider runs
        import threading  # noqa: PLC0415

        def watch() -> None:
            # The lease runs out on either clock: a step of the wall clock forward brings a
            # SQLite ledger's expiry (on this host's wall clock) nearer, so it is looked at
            # at least once a second; the monotonic clock covers a step backward.
            why, mono_end, wall_end = "its lease was not renewed in time", 0.0, 0.0

            def grant(more: float) -> None:
                nonlocal mono_end, wall_end
                mono_end, wall_end = time.monotonic() + more, time.time() + more

            grant(seconds)
            while True:
                timeout = None
                if seconds > 0:
                    left = min(mono_end - time.monotonic(), wall_end - time.time())
                    if left <= 0:
                        break
                    timeout = min(left, 1.0)
                ready, _, _ = select.select([fd], [], [], timeout)
                if not ready:
                    continue
                data = os.read(fd, 4096)
                if not data:
                    why = "the provider is gone"
                    break
                with contextlib.suppress(ValueError, IndexError):
                    grant(float(data.split()[-1]))
            self.abandon(why)

        threading.Thread(target=watch, name="scheduled-fence", daemon=True).start()

    def abandon(self, why: str) -> None:
        """Stop at once for the provider's sake: say why on FD, SIGKILL everything."""
        _report(self.fd, f"\n{ABANDON}{why}\n")
        with contextlib.suppress(OSError):
            os.write(2, f"scheduled: stopping this run: {why}\n".encode())
        kill_tree(os.getpid())
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(0), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)  # the job may have left its group

    def end(self) -> None:
        """SIGTERM the remaining descendants, SIGKILL them after half the grace, reap them."""
        self.ending = True
        if self.subreaper and not _reap():
            return  # no child: as their subreaper, no descendant either
        _send(descendants(os.getpid()), signal.SIGTERM)
        deadline = time.monotonic() + self.grace / 2
        while time.monotonic() < deadline:
            _reap()
            if not descendants(os.getpid()):
                return
            time.sleep(0.02)
        for _ in range(100):
            kill_tree(os.getpid())
            time.sleep(0.01)
            _reap()
            if not descendants(os.getpid()):
                return

    def _terminated(self, signum: int, frame: FrameType | None) -> None:
        if self.ending:
            return  # already ending its descendants: the runner's SIGKILL is the backstop
        self.end()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)  # die of it, as without this handler
        os._exit(128 + signal.SIGTERM)


def main(argv: list[str] | None = None) -> None:
    """Run one attempt. Exits 0 on success, 1 on an exception, the job's code on SystemExit."""
    args = argv if argv is not None else sys.argv[1:]
    entrypoint, root, fd_text, provider, fence_fd, seconds, grace = args[:7]
    fd = int(fd_text)
    attempt = _Attempt(fd, int(provider), float(grace))
    attempt.guard()
    if int(fence_fd) >= 0:
        attempt.watch(int(fence_fd), float(seconds))
    if root:
        sys.path.insert(0, root)
    try:
        target = resolve(entrypoint)
        attempt.check_provider()  # the import may have taken a while
        call(target)
    except SystemExit:
        attempt.end()
        raise
    except BaseException as exc:  # noqa: BLE001 - anything the job raises is its failure
        import traceback  # noqa: PLC0415 - only on failure

        traceback.print_exc()
        sys.stderr.flush()
        _report(fd, summary(exc))
        attempt.end()
        sys.exit(1)
    attempt.end()


if __name__ == "__main__":
    # Run as a script, sys.path[0] is this file's directory: drop it so that modules of
    # the provider never shadow the project's.
    del sys.path[0]
    main()
