"""The inline runner: jobs called in threads of the provider's process (SPEC.md 10.8.4).

For light jobs and benchmarks. There is no isolation: a job that crashes the interpreter
takes the provider with it, and a thread cannot be stopped, so a timed-out or abandoned
inline call is recorded as such but keeps running. Output is not captured.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from scheduled_spec.entrypoint import Entrypoint
from scheduled_spec.provider import child
from scheduled_spec.provider.ledger import Attempt, State
from scheduled_spec.provider.runner import _CURRENT, RunHandle, RunSpec


class _InlineHandle:
    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self._started = max(time.monotonic(), spec.not_before)
        self._stopped = False
        self._why = ""
        self.finished = False
        self.error: str | None = None
        self._result: Attempt | None = None

    def poll(self) -> Attempt | None:
        if self._result is not None:
            return self._result
        spec, elapsed = self.spec, time.monotonic() - self._started
        outcome: State | None = None
        if self.finished:
            outcome = State.SUCCEEDED if self.error is None else State.FAILED
            error = self.error
        elif self._stopped:
            outcome, error = State.ABANDONED, f"{self._why} (the thread keeps running)"
        elif elapsed >= spec.timeout:
            outcome, error = State.TIMED_OUT, f"timed out after {spec.timeout:g} s"
        if outcome is not None:
            self._result = Attempt(spec.context.attempt, outcome, spec.started_at, elapsed, error)
        return self._result

    def stop(self, why: str = "stopped at shutdown") -> None:
        self._stopped, self._why = True, why

    def renew(self, seconds: float) -> None:
        pass  # a thread cannot be stopped: an inline run cannot fence itself


_Work = tuple[RunSpec, _InlineHandle, Callable[[], None]]


class InlineRunner:
    """Call entrypoints in `workers` threads of this process (no isolation).

    Starting a run is one put on a queue the workers wait on, and a run handed over ahead
    of its slot waits in its worker until `not_before`: a thousand runs due in one second
    start without the provider's loop in their way.
    """

    waits = True

    def __init__(self, workers: int = 10) -> None:
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"scheduled-{i}", daemon=True)
            for i in range(workers)
        ]
        self._targets: dict[Entrypoint, Callable[[], Any]] = {}
        self._lock = threading.Lock()
        self._running = False

    def _resolve(self, spec: RunSpec) -> Callable[[], Any]:
        with self._lock:
            target = self._targets.get(spec.entrypoint)
            if target is None:
                root = str(spec.root) if spec.root is not None else None
                if root is not None and root not in sys.path:
                    sys.path.insert(0, root)
                target = self._targets[spec.entrypoint] = spec.entrypoint.resolve()
            return target

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            spec, handle, done = item
            delay = spec.not_before - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            token = _CURRENT.set(spec.context)
            try:
                child.call(self._resolve(spec))
            except SystemExit as exc:
                if exc.code not in (None, 0):
                    handle.error = f"exit code {exc.code}"
            except BaseException as exc:  # noqa: BLE001 - anything the job raises is its failure
                handle.error = child.summary(exc)
            finally:
                _CURRENT.reset(token)
            handle.finished = True
            done()

    def start(self, spec: RunSpec, done: Callable[[], None]) -> RunHandle:
        if not self._running:
            self._running = True
            for thread in self._threads:
                thread.start()
        handle = _InlineHandle(spec)
        self._queue.put((spec, handle, done))
        return handle

    def close(self) -> None:
        if self._running:
            for _ in self._threads:
                self._queue.put(None)
