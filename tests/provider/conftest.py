"""Fixtures of the provider tests."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

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
