"""What runs inside the child process of one attempt (SPEC.md 10.8).

``python .../scheduled_spec/provider/child.py ENTRYPOINT ROOT FD [FENCE_FD SECONDS]``: put
ROOT first on sys.path, import the entrypoint, call it, await what it returns when that is
awaitable. With FENCE_FD, a watcher thread kills the child's process group when the
provider dies (end of file) or sends no lease renewal (a line holding the seconds the run
may go on) within SECONDS: a paused, partitioned or killed provider never leaves its job
running past its lease, where another replica may take the run over (SPEC.md 10.4.5).
The file runs as a script and imports nothing of scheduled_spec (whose package imports
pydantic), so starting a child costs little more than starting Python. On an exception
the traceback goes to stderr, a one-line summary to file descriptor FD, and the exit code
is 1. A ``SystemExit`` from the job keeps its own code.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Awaitable
from typing import Any


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


def _report(fd: int, text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, text.encode("utf-8", "replace")[:2000])


def _fence(fd: int, seconds: float) -> None:
    """Kill this process group when no renewal arrives on `fd` in time, or `fd` closes."""
    import select  # noqa: PLC0415 - only for provider runs
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    def watch() -> None:
        left, why = seconds, "its lease was not renewed in time"
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, left))
            if not ready:
                break
            data = os.read(fd, 4096)
            if not data:
                why = "the provider is gone"
                break
            with contextlib.suppress(ValueError):
                left = float(data.split()[-1])
        with contextlib.suppress(OSError):
            os.write(2, f"scheduled: stopping this run: {why}\n".encode())
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="scheduled-fence", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    """Run one attempt. Exits 0 on success, 1 on an exception, the job's code on SystemExit."""
    args = argv if argv is not None else sys.argv[1:]
    entrypoint, root, fd_text = args[:3]
    fd = int(fd_text)
    if len(args) >= 5:
        _fence(int(args[3]), float(args[4]))
    if root:
        sys.path.insert(0, root)
    try:
        call(resolve(entrypoint))
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - anything the job raises is its failure
        import traceback  # noqa: PLC0415 - only on failure

        traceback.print_exc()
        sys.stderr.flush()
        _report(fd, summary(exc))
        sys.exit(1)


if __name__ == "__main__":
    # Run as a script, sys.path[0] is this file's directory: drop it so that modules of
    # the provider never shadow the project's.
    del sys.path[0]
    main()
