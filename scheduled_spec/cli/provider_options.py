"""What the provider commands share: ledger URL, clock, logging, and the provider's settings."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

from scheduled_spec.cli.common import (
    EXIT_INVALID,
    ledger_failure,
    parse_instant,
    valid_project,
)
from scheduled_spec.clock import Clock, SystemClock
from scheduled_spec.models import Project
from scheduled_spec.provider.catchup import CatchUp
from scheduled_spec.provider.clocks import FileClock, FixedClock
from scheduled_spec.provider.config import ProviderConfig
from scheduled_spec.provider.events import FIELDS, emit
from scheduled_spec.provider.inline import InlineRunner
from scheduled_spec.provider.ledger import (
    Ledger,
    LedgerError,
    LedgerUnavailableError,
    open_ledger,
)
from scheduled_spec.provider.loop import Provider
from scheduled_spec.provider.runner import ChildRunner, Runner

F = TypeVar("F", bound=Callable[..., Any])
CLOCK_FILE = "SCHEDULED_CLOCK_FILE"


def default_ledger_url(root: Path) -> str:
    """``sqlite:///<project root>/.scheduled/ledger.sqlite3``."""
    return f"sqlite://{root.resolve() / '.scheduled' / 'ledger.sqlite3'}"


def ledger_options(command: F) -> F:
    """``--ledger URL`` (env SCHEDULED_LEDGER)."""
    return click.option(
        "--ledger",
        "ledger_url",
        envvar="SCHEDULED_LEDGER",
        metavar="URL",
        help="Where runs are recorded [env SCHEDULED_LEDGER; default:"
        " sqlite:///<project root>/.scheduled/ledger.sqlite3].",
    )(command)


def provider_options(command: F) -> F:
    """The settings `run` and `tick` share."""
    options = [
        click.option(
            "--salt", envvar="SCHEDULED_SALT", default="", help="Slot salt [env SCHEDULED_SALT]."
        ),
        click.option(
            "--catch-up",
            type=click.Choice([c.value for c in CatchUp]),
            default="latest",
            show_default=True,
            help="What to run after downtime.",
        ),
        click.option(
            "--catch-up-cap",
            type=click.IntRange(0),
            default=100,
            show_default=True,
            help="With --catch-up all: most missed periods run per job.",
        ),
        click.option(
            "--max-parallel",
            type=click.IntRange(1),
            default=8,
            show_default=True,
            help="Most attempts running at once.",
        ),
        click.option(
            "--runner",
            "runner_name",
            type=click.Choice(["child", "inline"]),
            default="child",
            show_default=True,
            help="child: a process per attempt; inline: threads of this process.",
        ),
        click.option(
            "--attempts",
            type=click.IntRange(1),
            default=3,
            show_default=True,
            help="Attempts per run, counting the first.",
        ),
        click.option(
            "--backoff",
            type=click.FloatRange(0),
            default=1.0,
            show_default=True,
            help="Seconds before the first retry; doubles each time.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(0, min_open=True),
            default=None,
            help="Seconds an attempt may run [default: the cadence's period].",
        ),
        click.option(
            "--kill-grace",
            type=click.FloatRange(0),
            default=10.0,
            show_default=True,
            help="Seconds between SIGTERM and SIGKILL.",
        ),
        click.option(
            "--shutdown-grace",
            type=click.FloatRange(0),
            default=30.0,
            show_default=True,
            help="Seconds running attempts get at shutdown.",
        ),
        click.option(
            "--lease",
            type=click.FloatRange(1),
            default=120.0,
            show_default=True,
            help="Seconds a claim lasts without a heartbeat.",
        ),
        click.option(
            "--retention-days",
            type=click.FloatRange(0, min_open=True),
            default=90.0,
            show_default=True,
            help="Finished rows older than this are pruned.",
        ),
        click.option(
            "--retention-runs",
            type=click.IntRange(1),
            default=100_000,
            show_default=True,
            help="Finished rows of a job beyond its newest N are pruned (a 1 s heartbeat"
            " writes 86,400 a day).",
        ),
        click.option(
            "--log-format",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="json: one JSON object per line.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def make_config(options: dict[str, Any]) -> ProviderConfig:
    """A ProviderConfig from the options of `provider_options`."""
    return ProviderConfig(
        salt=options["salt"],
        catch_up=CatchUp(options["catch_up"]),
        catch_up_cap=options["catch_up_cap"],
        max_parallel=options["max_parallel"] if options["runner_name"] == "child" else 1 << 30,
        attempts=options["attempts"],
        backoff=options["backoff"],
        timeout=options["timeout"],
        kill_grace=options["kill_grace"],
        shutdown_grace=options["shutdown_grace"],
        lease=options["lease"],
        retention_days=options["retention_days"],
        retention_runs=options["retention_runs"],
    )


def make_runner(name: str, max_parallel: int) -> Runner:
    """The child-process runner, or an inline runner with `max_parallel` threads."""
    return ChildRunner() if name == "child" else InlineRunner(max_parallel)


def load_project(path: str, invalid_exit: int = EXIT_INVALID) -> Project:
    """The validated project at PATH; print its issues and exit `invalid_exit` when invalid."""
    project, _ = valid_project(path, otherwise="nothing was run", exit_code=invalid_exit)
    return project


def make_clock(now: str | None = None) -> Clock:
    """``--now`` as a fixed clock; SCHEDULED_CLOCK_FILE as a file clock; else the system's."""
    if now is not None:
        return FixedClock(parse_instant(now))
    clock_file = os.environ.get(CLOCK_FILE)
    if clock_file:
        clock = FileClock(clock_file)
        try:
            clock.now()
        except (OSError, ValueError) as exc:
            raise click.UsageError(f"{CLOCK_FILE}={clock_file}: {exc}") from None
        return clock
    return SystemClock()


def open_project_ledger(url: str | None, root: Path, clock: Clock, *, wait: bool = False) -> Ledger:
    """Open `url` (or the project's default ledger); a bad URL is a usage error (exit 2), an
    unreachable ledger a temporary failure (exit 75).

    With `wait` (`scheduled run`), a server that cannot be reached yet is retried after
    0.5 s, doubling to 30 s, instead: replicas starting while their database restarts come
    up with it, rather than exiting (SPEC.md 10.18.3).
    """
    delay = 0.5
    while True:
        try:
            return open_ledger(url or default_ledger_url(root), clock=clock)
        except LedgerUnavailableError as exc:
            if not wait:
                raise ledger_failure(exc) from None
            emit(
                logging.WARNING,
                "ledger-unreachable",
                f"ledger unreachable at start ({exc}); retrying in {delay:g} s",
                error=str(exc),
                seconds=delay,
            )
            time.sleep(delay)
            delay = min(30.0, delay * 2)
        except LedgerError as exc:
            raise ledger_failure(exc) from None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the provider's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + "Z",
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                data[name] = value
        return json.dumps(data, ensure_ascii=False)


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Send the library's log records to stderr, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = (
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)sZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logger = logging.getLogger("scheduled_spec")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def open_provider(
    project: Project,
    ledger_url: str | None,
    clock: Clock,
    log_format: str,
    options: dict[str, Any],
    *,
    wait_for_ledger: bool = False,
) -> tuple[Provider, Ledger]:
    """The provider of `run` and `tick`, with its ledger (which the caller closes)."""
    config = make_config({**options, "log_format": log_format})
    assert project.root is not None  # noqa: S101 - loaded from a file
    ledger = open_project_ledger(ledger_url, project.root, clock, wait=wait_for_ledger)
    runner = make_runner(options["runner_name"], options["max_parallel"])
    return Provider(project, ledger, runner, clock, config), ledger


class StopRequested(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived before the provider existed: nothing was claimed yet."""


class SignalStop:
    """Where SIGTERM and SIGINT go: to the provider once attached, else StopRequested."""

    def __init__(self) -> None:
        self.provider: Provider | None = None
        self.requested = False

    def attach(self, provider: Provider) -> None:
        """From now on a signal stops `provider`; one that came already stops it at once."""
        self.provider = provider
        if self.requested:
            provider.stop()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self.provider is None:
            raise StopRequested
        self.provider.stop()


@contextmanager
def stop_on_signals() -> Iterator[SignalStop]:
    """SIGTERM and SIGINT stop the command cleanly while inside; the old handlers after.

    Enter it first, before the project is loaded and the ledger opened. Until a provider is
    attached, a signal ends the block at once (nothing was claimed, nothing run), which the
    block's caller sees as a normal end; afterwards it stops the provider, which records
    what it holds through its normal shutdown.
    """
    stop = SignalStop()
    previous = {s: signal.signal(s, stop.handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    except StopRequested:
        emit(logging.INFO, "provider-stop", "stopped before the provider started: nothing ran")
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
