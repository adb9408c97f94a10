"""The PostgreSQL server the tests use, from ``SCHEDULED_TEST_POSTGRES_URL``.

Without the variable, PostgreSQL tests are skipped (the terminal summary says how to enable
them). With it set but the server unreachable, they are skipped with the reason, except
when ``CI=true``: there they fail, loudly, so that CI never passes without them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

ENV = "SCHEDULED_TEST_POSTGRES_URL"
SKIPPED = f"PostgreSQL tests skipped: set {ENV}=postgresql://... to run them"


def server_url() -> str:
    """The server's URL; skips (or, in CI, fails) the calling test when there is none."""
    url = os.environ.get(ENV, "")
    if not url:
        pytest.skip(SKIPPED)
    try:
        import psycopg  # noqa: PLC0415 - optional: pip install 'scheduled-spec[postgres]'
    except ModuleNotFoundError:
        message = f"{ENV} is set but psycopg is not installed: pip install -e '.[dev]'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        message = f"{ENV}={url}: PostgreSQL is unreachable: {exc}".strip()
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    return url


def with_schema(url: str, schema: str) -> str:
    """`url` with ``schema=NAME`` added to its query."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def execute(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the server (autocommit); its rows, if it returns any."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql, args or None)
        return cur.fetchall() if cur.description else []


@contextmanager
def fresh_schema() -> Iterator[tuple[str, str]]:
    """(ledger URL with a fresh schema, the server's URL); the schema is dropped after."""
    url = server_url()
    schema = f"test_{secrets.token_hex(6)}"
    try:
        yield with_schema(url, schema), url
    finally:
        execute(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def count_skipped(reports: list[Any]) -> int:
    """How many skipped test reports were skipped for want of the variable."""
    n = 0
    for report in reports:
        longrepr = getattr(report, "longrepr", None)
        if isinstance(longrepr, tuple) and len(longrepr) == 3 and SKIPPED in str(longrepr[2]):
            n += 1
    return n


def schema_of(ledger_url: str) -> str:
    """The schema a test ledger URL names."""
    return ledger_url.rsplit("schema=", 1)[1]


def rows(ledger_url: str, where: str = "true", *args: Any) -> list[dict[str, Any]]:
    """Ledger rows of a test schema as dicts, read with a separate connection."""
    import psycopg  # noqa: PLC0415
    from psycopg.rows import dict_row  # noqa: PLC0415

    url = os.environ[ENV]
    schema = schema_of(ledger_url)
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".runs',)).fetchone()
        if exists is None or exists[0] is None:
            return []
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(f'SELECT * FROM "{schema}".runs WHERE {where}', args or None)  # noqa: S608
            return cur.fetchall()
