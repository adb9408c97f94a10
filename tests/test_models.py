"""The job model: `plain_job` (the loader's fast path) and pydantic agree on every table."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from scheduled_spec.models import Job, plain_job

values = st.one_of(
    st.sampled_from(
        [
            "day",
            "week",
            "minute",
            "hour",
            "month",
            "Day",
            "daily",
            "",
            "app.jobs:run",
            "a:b",
            "a.b",
            "a:b:c",
            "app.class:x",
            "tâche:faire",
            "a :b",
            "_x._y:_z",
        ]
    ),
    st.text(max_size=12),
    st.integers(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
tables = st.one_of(
    st.dictionaries(
        st.sampled_from(["every", "entrypoint", "evry", "id", "at", "timeout"]), values, max_size=4
    ),
    # The plain shape, which the fast path takes: valid and near-valid values.
    st.fixed_dictionaries({"every": values, "entrypoint": values}),
)


@given(st.text(min_size=1, max_size=20), tables)
def test_plain_job_agrees_with_the_model(job_id: str, table: dict[str, Any]) -> None:
    fast = plain_job(job_id, table)
    try:
        slow: Job | None = Job.model_validate({**table, "id": job_id})
    except ValidationError:
        slow = None
    if fast is not None:
        assert slow is not None, "the fast path must never accept what the model rejects"
        assert fast == slow
        assert fast.model_dump() == slow.model_dump()
        assert hash(fast) == hash(slow)


def test_plain_job_behaves_like_a_validated_job() -> None:
    fast = plain_job("clean", {"every": "day", "entrypoint": "app.jobs:clean"})
    slow = Job.model_validate({"id": "clean", "every": "day", "entrypoint": "app.jobs:clean"})
    assert fast is not None
    assert fast == slow
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_copy(update={"id": "other"}).id == "other"
    assert fast.offset() == slow.offset()
    with pytest.raises(ValidationError):
        fast.id = "changed"  # type: ignore[misc]  # frozen, like every job
