"""SPEC.md and the code say the same thing: the issue-code table and the worked examples."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from scheduled_spec import Job, next_run, slot_offset
from scheduled_spec.codes import CODES
from tests.conftest import ROOT

SPEC = (ROOT / "SPEC.md").read_text(encoding="utf-8")


def test_issue_code_table_matches_codes_module() -> None:
    rows = re.findall(r"^\| (SCH\d{3}) \| (\w+) \| ([\d.]+) \| (.+?) \|$", SPEC, re.MULTILINE)
    documented = {code: (severity, section, summary) for code, severity, section, summary in rows}
    assert documented == {c.code: (c.severity.value, c.section, c.summary) for c in CODES.values()}


def test_every_code_cites_an_existing_section() -> None:
    headings = set(re.findall(r"^#+ (\d+(?:\.\d+)*)\.", SPEC, re.MULTILINE))
    numbered = set(re.findall(r"^(\d+\.\d+\.\d+)\.", SPEC, re.MULTILINE))
    for code in CODES.values():
        assert code.section in headings | numbered, code


def test_worked_examples_hold() -> None:
    assert slot_offset("clean-files", "day") == 29712
    assert slot_offset("clean-files", "month") == 1844112
    assert slot_offset("cleanup", "day", salt="tenant-a") == 74811
    assert slot_offset("cleanup", "day", salt="tenant-b") == 70712
    assert slot_offset("nettoyage-é", "day") == 15504
    week = Job(id="clean-files", every="week", entrypoint="a:b")
    run = next_run(week, datetime(2026, 12, 31, tzinfo=timezone.utc))
    assert (run.period, run.at.isoformat()) == ("2027-W01", "2027-01-04T08:15:12+00:00")
    assert "`2027-01-04T08:15:12Z`, period\n  `2027-W01`" in SPEC


def test_every_test_the_spec_names_exists() -> None:
    """A MUST names the tests that check it (SPEC.md part 10): each name must be real."""
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py"))
    defined = set(re.findall(r"^\s*(?:async )?def (test_\w+)", sources, re.MULTILINE))
    files = {p.name for p in (ROOT / "tests").rglob("test_*.py")}
    # `test_x`, `test_x.py`, `tests/provider/test_x.py::test_y`
    named = set(re.findall(r"(?:`|::|/)(test_\w+)", SPEC))
    missing = sorted(n for n in named if n not in defined and f"{n}.py" not in files)
    assert named, "SPEC.md names no test"
    assert missing == []
