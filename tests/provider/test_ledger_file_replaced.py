"""A SQLite ledger file deleted or replaced under a running provider (issue 11).

Before, the provider went on writing to the file nobody else opens while a new provider
started a fresh one at the path: two ledgers, 86 of 88 ticks ran twice. Ticks are counted
from the job's own log (``<tick> <provider pid>``, appended with O_APPEND), not the ledger.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections import Counter
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import pytest

from scheduled_spec.clock import SystemClock
from scheduled_spec.provider.ledger import LedgerReplacedError
from scheduled_spec.provider.ledger_sqlite import SQLiteLedger
from tests.provider.fakes import FakeClock
from tests.provider.helpers import provider_process, wait_for

_JOBS = """
import os, time

def _note(name, line):
    fd = os.open(os.path.join({side!r}, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\\n").encode())
    finally:
        os.close(fd)

def beat():
    _note("beats.log", f"{{os.environ['SCHEDULED_PERIOD']}} {{os.getppid()}}")

def long():
    _note("long.log", f"{{os.getpid()}} {{os.getppid()}}")
    time.sleep(600)
"""

_PYPROJECT = """
[tool.scheduled.beat]
every = "minute"
interval = 1
entrypoint = "replaced_app.jobs:beat"

[tool.scheduled.long]
every = "day"
immediately = true
entrypoint = "replaced_app.jobs:long"
"""


def _project(root: Path) -> Path:
    """A project whose `beat` ticks every second and whose `long` runs at each start."""
    side = root / "side"
    side.mkdir(parents=True)
    (root / "replaced_app").mkdir()
    (root / "replaced_app" / "__init__.py").write_text("")
    (root / "replaced_app" / "jobs.py").write_text(_JOBS.format(side=str(side)))
    (root / "pyproject.toml").write_text(_PYPROJECT)
    return side


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def _ticks(side: Path, pid: int) -> list[str]:
    """The ticks that the provider with this pid started, in order."""
    return [tick for tick, ppid in _lines(side / "beats.log") if int(ppid) == pid]


def _instant(key: str) -> float:
    return datetime.fromisoformat(key.replace("Z", "+00:00")).timestamp()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def _delete(ledger: Path, tmp_path: Path) -> None:
    """`rm ledger.sqlite3*`."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)


def _replace(ledger: Path, tmp_path: Path) -> None:
    """A restore: the ledger's ``-wal`` and ``-shm`` moved aside, another file renamed over it."""
    other = tmp_path / "restored.sqlite3"
    SQLiteLedger(other, clock=SystemClock()).close()
    for suffix in ("-wal", "-shm"):
        Path(f"{ledger}{suffix}").replace(tmp_path / f"old{suffix}")
    other.replace(ledger)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_provider_whose_ledger_file_goes_exits_75_and_no_tick_runs_twice(
    tmp_path: Path, how: str
) -> None:
    """SPEC 10.13.4: the provider notices at its next write, stops claiming, stops its runs,
    logs an ERROR naming the file, and exits 75; a provider on the new file runs the rest."""
    side = _project(tmp_path)
    ledger = tmp_path / "ledger" / "ledger.sqlite3"
    args = (str(tmp_path), "--ledger", f"sqlite://{ledger}", "--shutdown-grace", "1")
    with ExitStack() as stack:
        first = stack.enter_context(provider_process(*args, env={}, log=tmp_path / "first.log"))
        wait_for(lambda: len(_ticks(side, first.pid)) >= 3, what="the first provider's ticks")
        wait_for(lambda: _lines(side / "long.log"), what="the first provider's long run")
        ((long_pid, _),) = _lines(side / "long.log")
        (_delete if how == "deleted" else _replace)(ledger, tmp_path)
        gone_at = time.time()
        second = stack.enter_context(provider_process(*args, env={}, log=tmp_path / "second.log"))
        wait_for(lambda: first.poll() is not None, timeout=120, what="the first provider to exit")
        assert first.returncode == 75, (tmp_path / "first.log").read_text()
        assert _gone(int(long_pid)), "the first provider's running attempt was stopped"
        seen = len(_ticks(side, second.pid))
        wait_for(lambda: len(_ticks(side, second.pid)) >= seen + 3, what="the second's ticks")
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0, (tmp_path / "second.log").read_text()
    log = (tmp_path / "first.log").read_text()
    (error,) = [line for line in log.splitlines() if " ERROR " in line]
    # Deleted, then created anew by the second provider before the first one's next write:
    # to the first one, the path names another file.
    seen_as = ("deleted", "replaced") if how == "deleted" else ("replaced",)
    assert any(f"{ledger}: the ledger file was {w} while in use" in error for w in seen_as), log
    assert "Stopped claiming" in error, log
    by_first, by_second = _ticks(side, first.pid), _ticks(side, second.pid)
    assert max(Counter(by_first).values()) == max(Counter(by_second).values()) == 1
    # The first provider claims a tick at most half an interval ahead (SPEC 10.17.5); once
    # the file is gone every claim fails, so it starts no tick claimed after that.
    assert max(map(_instant, by_first)) <= gone_at + 0.5
    # Only a tick it claimed before the file went may run again: the second cannot know.
    twice = set(by_first) & set(by_second)
    assert all(_instant(tick) <= gone_at + 0.5 for tick in twice), sorted(twice)
    # Everything the second provider ran is in the ledger file at the path: the first one's
    # close did not checkpoint into, or delete, the files the second one uses.
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
        recorded = {key for (key,) in db.execute("SELECT period_key FROM runs")}
    db.close()
    assert set(by_second) <= recorded


def test_a_write_after_the_file_is_deleted_or_replaced_raises(tmp_path: Path) -> None:
    """SPEC 10.13.4: every write checks that the path still names the file opened."""
    path = tmp_path / "deleted" / "ledger.sqlite3"
    ledger = SQLiteLedger(path, clock=FakeClock())
    assert ledger.prune(90, ["job"]) == 0
    inode = path.stat().st_ino
    path.unlink()
    with pytest.raises(
        LedgerReplacedError, match=f"was deleted while in use .it was inode {inode}"
    ):
        ledger.prune(90, ["job"])
    ledger.close()

    path = tmp_path / "replaced" / "ledger.sqlite3"
    ledger = SQLiteLedger(path, clock=FakeClock())
    other = tmp_path / "other.sqlite3"
    SQLiteLedger(other, clock=FakeClock()).close()
    old, new = path.stat().st_ino, other.stat().st_ino
    other.replace(path)
    with pytest.raises(LedgerReplacedError, match=f"replaced while in use .inode {old} on device"):
        ledger.prune(90, ["job"])
    with pytest.raises(LedgerReplacedError, match=f"by inode {new} on device"):
        ledger.prune(90, ["job"])
    ledger.close()
