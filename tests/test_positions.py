"""Issue positions are right whatever TOML syntax declares the job (SPEC.md section 3)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from scheduled_spec import validate
from scheduled_spec.positions import Positions

ids = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=12),
)
noise = st.sampled_from(
    [
        "",
        "# a comment\n",
        "\n\n",
        '[project]\nname = "x"\nkeywords = [\n  "a]", # tricky ]\n  "b",\n]\n',
        'description = """\n[tool.scheduled.fake]\nevery = "x"\n"""\n',
        "literal = '''\n[not.a.table]\n'''\n",
    ]
)


def quoted(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


@given(ids, st.sampled_from(["header", "inline", "dotted", "super-header"]), noise, noise)
def test_bad_every_is_located_in_any_syntax(
    job_id: str, style: str, before: str, after: str
) -> None:
    key = quoted(job_id)
    if style == "header":
        body = f'[tool.scheduled.{key}]\nevery = "dayly"\nentrypoint = "a:b"\n'
        line, column = 2, 9
    elif style == "inline":
        body = f'[tool.scheduled]\n{key} = {{ entrypoint = "a:b", every = "dayly" }}\n'
        line, column = 2, len(key) + 34
    elif style == "dotted":
        body = f'[tool.scheduled]\n{key}.entrypoint = "a:b"\n{key}  .  every =  "dayly"\n'
        line, column = 3, len(key) + 15
    else:
        body = f'[tool]\nscheduled.{key}.every = "dayly"\nscheduled.{key}.entrypoint = "a:b"\n'
        line, column = 2, len(key) + 20
    # Noise before the job sits in [project]; noise after it lands in the job's own table
    # (extra keys there are other issues, not SCH103) or opens [project] again.
    prefix = before if before.startswith("[project]") else "[project]\n" + before
    suffix = after.replace("[project]", "[other]")
    text = prefix + body + suffix
    offset = prefix.count("\n")
    errors = [i for i in validate(text).issues if i.code == "SCH103"]
    assert [(i.line, i.column) for i in errors] == [(line + offset, column)]


def test_array_of_tables_and_nested_inline_tables_are_indexed() -> None:
    text = "[[a.b]]\nx = 1\n[[a.b]]\nx = { y = [1, { z = 2 }] }\n"
    positions = Positions(text)
    assert positions.of_value(("a", "b", 1, "x", "y", 1, "z")) == (4, 21)
    assert positions.of_key(("a", "b", 0, "x")) == (2, 1)


def test_unknown_path_falls_back_to_the_nearest_table() -> None:
    positions = Positions('[tool.scheduled.job]\nevery = "day"\n')
    assert positions.of_value(("tool", "scheduled", "job", "missing")) == (1, 1)
    assert positions.of_value(("nowhere",)) == (None, None)
