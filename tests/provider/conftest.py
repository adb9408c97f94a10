"""Fixtures of the provider tests."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.provider.postgres import SKIPPED, count_skipped, fresh_schema

Figure = Callable[[str, object], None]


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Figure:
    """Report a scenario's measured figure.

    Figures go to the JSON-lines file named by ``SCHEDULED_TEST_FIGURES`` when it is set
    (``SCHEDULED_TEST_FIGURES=figures.jsonl pytest tests/provider``); else nowhere.
    """

    def report(name: str, value: object) -> None:
        path = os.environ.get("SCHEDULED_TEST_FIGURES")
        if path:
            with Path(path).open("a", encoding="utf-8") as out:
                out.write(json.dumps({"test": request.node.nodeid, name: value}) + "\n")

    return report


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A ledger URL on the test PostgreSQL server, in a fresh schema dropped afterwards."""
    with fresh_schema() as (url, _):
        yield url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One clear line when PostgreSQL tests were skipped for want of a server URL."""
    skipped = count_skipped(terminalreporter.stats.get("skipped", []))
    if skipped:
        terminalreporter.write_line(f"{SKIPPED} ({skipped} tests)", yellow=True, bold=True)
