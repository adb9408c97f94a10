"""The exact messages users see for the common mistakes (SPEC.md section 3).

Wording may improve between releases, codes may not; these tests pin both so that a change
in wording is a deliberate one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduled_spec import InvalidProject, Severity, load, validate

HEADER = "[tool.scheduled.nightly]\n"


def only_issue(text: str) -> str:
    report = validate(text, filename="pyproject.toml")
    assert len(report.issues) == 1, report.issues
    return report.issues[0].describe("pyproject.toml")


@pytest.mark.parametrize(
    ("every", "suggestion"),
    [
        ('"daily"', "day"),
        ('"Day"', "day"),
        ('"DAY"', "day"),
        ('"days"', "day"),
        ('"1d"', "day"),
        ('"24h"', "day"),
        ('"nightly"', "day"),
        ('"hourly"', "hour"),
        ('"hours"', "hour"),
        ('"1h"', "hour"),
        ('"weekly"', "week"),
        ('"weeks"', "week"),
        ('"monthly"', "month"),
        ('"months"', "month"),
        ('"minutely"', "minute"),
        ('"minutes"', "minute"),
        ('"1m"', "minute"),
        ('"every day"', "day"),
        ('"mnth"', "month"),
    ],
)
def test_every_synonym_gets_did_you_mean(every: str, suggestion: str) -> None:
    text = f'{HEADER}every = {every}\nentrypoint = "app.jobs:clean"\n'
    assert only_issue(text) == (
        "pyproject.toml:2:9: SCH103 tool.scheduled.nightly.every: expected one of"
        ' "minute", "hour", "day", "week", "month", got '
        + every
        + f' (did you mean "{suggestion}"?)'
    )


def test_every_unrelated_word_has_no_hint() -> None:
    text = f'{HEADER}every = "fortnight"\nentrypoint = "app.jobs:clean"\n'
    assert only_issue(text).endswith('got "fortnight"')


def test_every_cron_expression_points_to_the_cron_key() -> None:
    text = f'{HEADER}every = "0 9 * * *"\nentrypoint = "app.jobs:clean"\n'
    assert only_issue(text).endswith(
        'got "0 9 * * *" (cron expressions go in the "cron" extension key;'
        ' "every" names the cadence)'
    )


def test_every_seconds_integer_suggests_the_cadence() -> None:
    text = f'{HEADER}every = 3600\nentrypoint = "app.jobs:clean"\n'
    assert only_issue(text) == (
        "pyproject.toml:2:9: SCH101 tool.scheduled.nightly.every: expected one of"
        ' "minute", "hour", "day", "week", "month", got an integer (3600)'
        ' (did you mean every = "hour"?)'
    )


@pytest.mark.parametrize(
    ("value", "described"),
    [
        ("true", "a boolean (true)"),
        ('["day"]', "an array"),
        ("{ a = 1 }", "a table"),
        ("1.5", "a float (1.5)"),
        ("2026-11-24", "a date-time"),
    ],
)
def test_every_wrong_type_names_the_toml_type(value: str, described: str) -> None:
    text = f'{HEADER}every = {value}\nentrypoint = "app.jobs:clean"\n'
    assert "SCH101 tool.scheduled.nightly.every: expected one of" in only_issue(text)
    assert only_issue(text).split(", got ")[1].startswith(described)


@pytest.mark.parametrize(
    ("entrypoint", "expected"),
    [
        (
            "app.jobs.clean",
            (
                'SCH202 tool.scheduled.nightly.entrypoint: expected "module:attribute", got'
                ' "app.jobs.clean", which has no ":" (did you mean "app.jobs:clean"?)'
            ),
        ),
        (
            "app:jobs:clean",
            (
                'SCH203 tool.scheduled.nightly.entrypoint: expected exactly one ":" between module'
                ' and attribute, got "app:jobs:clean" (use "." between the parts of the attribute,'
                ' as in "app.jobs:Cleaner.run")'
            ),
        ),
        (
            ":clean",
            (
                'SCH204 tool.scheduled.nightly.entrypoint: expected "module:attribute",'
                ' got ":clean" with an empty module'
            ),
        ),
        (
            "app.jobs:",
            (
                'SCH204 tool.scheduled.nightly.entrypoint: expected "module:attribute", got'
                ' "app.jobs:" with an empty attribute'
            ),
        ),
        (
            "app..jobs:clean",
            (
                "SCH204 tool.scheduled.nightly.entrypoint: expected a module of dotted Python"
                ' identifiers, got an empty part in "app..jobs:clean"'
            ),
        ),
        (
            "app.2jobs:clean",
            (
                'SCH205 tool.scheduled.nightly.entrypoint: "2jobs" in "app.2jobs:clean" is not a'
                " Python identifier"
            ),
        ),
        (
            "app.jobs:clean-files",
            (
                'SCH205 tool.scheduled.nightly.entrypoint: "clean-files" in "app.jobs:clean-files"'
                " is not a Python identifier"
            ),
        ),
        (
            "app.jobs: clean",
            (
                'SCH205 tool.scheduled.nightly.entrypoint: " clean" in "app.jobs: clean" is not a'
                ' Python identifier: it has white space (remove the spaces: "app.jobs:clean")'
            ),
        ),
        (
            "app.class:run",
            (
                'SCH206 tool.scheduled.nightly.entrypoint: "class" in "app.class:run" is a Python'
                " keyword and cannot be imported"
            ),
        ),
    ],
)
def test_entrypoint_grammar_says_exactly_what_is_wrong(entrypoint: str, expected: str) -> None:
    text = f'{HEADER}every = "day"\nentrypoint = "{entrypoint}"\n'
    assert only_issue(text) == f"pyproject.toml:3:14: {expected}"


def test_non_ascii_identifiers_are_valid_entrypoints() -> None:
    project = load(f'{HEADER}every = "day"\nentrypoint = "tâches.nettoyage:nettoyer"\n')
    assert project.jobs[0].entrypoint.module == "tâches.nettoyage"
    assert project.jobs[0].entrypoint.attribute == "nettoyer"


def test_nested_attribute_entrypoint_is_parsed() -> None:
    project = load(f'{HEADER}every = "day"\nentrypoint = "app.jobs:Cleaner.run"\n')
    assert project.jobs[0].entrypoint == ("app.jobs", "Cleaner.run")
    assert str(project.jobs[0].entrypoint) == "app.jobs:Cleaner.run"


def test_unknown_key_is_an_error_with_did_you_mean() -> None:
    text = f'{HEADER}every = "day"\nentrypoint = "app.jobs:clean"\nentry_point = "x:y"\n'
    assert only_issue(text) == (
        'pyproject.toml:4:1: SCH017 tool.scheduled.nightly.entry_point: unknown key "entry_point"'
        ' (did you mean "entrypoint"?)'
    )


def test_id_key_is_rejected_because_the_table_name_is_the_id() -> None:
    text = f'{HEADER}id = "x"\nevery = "day"\nentrypoint = "app.jobs:clean"\n'
    assert only_issue(text) == (
        'pyproject.toml:2:1: SCH017 tool.scheduled.nightly.id: unknown key "id"'
        " (the job ID is the table's name; remove this key)"
    )


def test_missing_keys_point_at_the_table_header() -> None:
    report = validate("[project]\nname = 'x'\n\n[tool.scheduled.nightly]\n", filename="p")
    assert [i.describe("pyproject.toml") for i in report.issues] == [
        (
            'pyproject.toml:4:1: SCH016 tool.scheduled.nightly: missing required key "every"'
            ' (add every = "day"; the cadences are "minute", "hour", "day", "week", "month")'
        ),
        (
            'pyproject.toml:4:1: SCH016 tool.scheduled.nightly: missing required key "entrypoint"'
            ' (add entrypoint = "module:function", for example "app.jobs:clean_files")'
        ),
    ]


def test_job_that_is_not_a_table() -> None:
    assert only_issue('[tool.scheduled]\nnightly = "day"\n') == (
        "pyproject.toml:2:11: SCH010 tool.scheduled.nightly: expected a table with every and"
        ' entrypoint, got "day" (declare it as [tool.scheduled.nightly])'
    )


def test_scheduled_that_is_not_a_table() -> None:
    assert only_issue('[tool]\nscheduled = ["a"]\n').startswith(
        "pyproject.toml:2:13: SCH003 tool.scheduled: expected a table of jobs, got an array"
    )


def test_no_scheduled_table_is_a_note_not_an_error() -> None:
    report = validate("[project]\nname = 'x'\n")
    assert report.valid
    assert [(i.code, i.severity) for i in report.issues] == [("SCH004", Severity.INFO)]
    assert load("[project]\nname = 'x'\n").jobs == ()


def test_empty_scheduled_table_is_a_warning() -> None:
    report = validate("[tool.scheduled]\n")
    assert report.valid
    assert [(i.code, i.severity, i.line) for i in report.issues] == [
        ("SCH005", Severity.WARNING, 1)
    ]


def test_toml_syntax_error_has_line_and_column() -> None:
    issue = only_issue(f'{HEADER}every = "day\nentrypoint = "a:b"\n')
    assert issue.startswith("pyproject.toml:2:")
    assert "SCH001" in issue
    assert "invalid TOML" in issue


def test_empty_job_id_is_an_error() -> None:
    assert only_issue('[tool.scheduled.""]\nevery = "day"\nentrypoint = "a:b"\n') == (
        'pyproject.toml:1:17: SCH011 tool.scheduled."": the job ID is empty'
        " (name the job: [tool.scheduled.my-job])"
    )


def test_control_character_in_job_id_is_an_error() -> None:
    issue = only_issue('[tool.scheduled."a\\tb"]\nevery = "day"\nentrypoint = "a:b"\n')
    assert "SCH012" in issue
    assert "U+0009" in issue


def test_overlong_job_id_is_an_error() -> None:
    job_id = "a" * 129
    issue = only_issue(f'[tool.scheduled.{job_id}]\nevery = "day"\nentrypoint = "a:b"\n')
    assert "SCH013" in issue
    assert "129 characters long; at most 128" in issue


def test_id_of_128_characters_is_accepted_with_a_portability_warning() -> None:
    job_id = "a" * 128
    report = validate(f'[tool.scheduled.{job_id}]\nevery = "day"\nentrypoint = "a:b"\n')
    assert report.valid
    assert [i.code for i in report.issues] == ["SCH014"]
    assert "at most 52 characters" in report.issues[0].message


@pytest.mark.parametrize(
    ("job_id", "portable"),
    [
        ("Clean_Files", "clean-files"),
        ("nightly.report", "nightly-report"),
        ("-x-", "x"),
        ("café", "caf"),
    ],
)
def test_non_portable_ids_get_a_warning_naming_what_breaks(job_id: str, portable: str) -> None:
    report = validate(f'[tool.scheduled."{job_id}"]\nevery = "day"\nentrypoint = "a:b"\n')
    assert report.valid
    (issue,) = report.issues
    assert issue.code == "SCH014"
    assert issue.severity is Severity.WARNING
    assert "Kubernetes CronJob and systemd unit names" in issue.message
    assert issue.hint == f'a portable ID would be "{portable}"'


def test_ids_differing_only_in_case_or_separator_warn() -> None:
    text = (
        '[tool.scheduled.clean-files]\nevery = "day"\nentrypoint = "a:b"\n'
        '[tool.scheduled.clean_files]\nevery = "day"\nentrypoint = "a:b"\n'
    )
    report = validate(text)
    assert report.valid
    confusable = [i for i in report.issues if i.code == "SCH015"]
    assert len(confusable) == 1
    assert confusable[0].line == 4
    assert '"clean-files" and "clean_files"' in confusable[0].message


def test_unsupported_cadence_is_an_error_only_when_asked() -> None:
    text = f'{HEADER}every = "minute"\nentrypoint = "a:b"\n'
    assert validate(text).valid
    report = validate(text, cadences=["day", "month"])
    assert [i.describe("pyproject.toml") for i in report.issues] == [
        (
            "pyproject.toml:2:9: SCH104 tool.scheduled.nightly.every: this provider supports"
            ' every = "day", "month" only, got "minute"'
        )
    ]


def test_all_problems_are_reported_at_once_in_document_order() -> None:
    text = (
        '[tool.scheduled.a]\nevery = "daily"\nentrypoint = "x"\n[tool.scheduled.b]\nevry = "day"\n'
    )
    with pytest.raises(InvalidProject) as caught:
        load(text)
    assert [(i.code, i.line) for i in caught.value.issues] == [
        ("SCH103", 2),
        ("SCH202", 3),
        ("SCH016", 4),
        ("SCH016", 4),
        ("SCH017", 5),
    ]
    assert str(caught.value).startswith("<text>: 5 error(s)\n")


def test_quoted_and_dotted_keys_are_located() -> None:
    text = (
        '[tool.scheduled]\n"my job".every = "daily"\n"my job".entrypoint = "a:b"\n'
        'other = { every = "weekly", entrypoint = "a:b" }\n'
    )
    located = {(i.code, i.path): (i.line, i.column) for i in validate(text).issues}
    assert located[("SCH103", 'tool.scheduled."my job".every')] == (2, 18)
    assert located[("SCH103", "tool.scheduled.other.every")] == (4, 19)


def test_multiline_strings_and_arrays_do_not_confuse_positions() -> None:
    text = (
        '[project]\ndescription = """\n[tool.scheduled.fake]\nevery = "x"\n"""\n'
        'keywords = [\n  "a", # comment ]\n  "b",\n]\n'
        '[tool.scheduled.real]\nevery = "dayly"\nentrypoint = "a:b"\n'
    )
    (issue,) = validate(text).issues
    assert (issue.code, issue.line, issue.column) == ("SCH103", 11, 9)


def test_file_with_bad_utf8_reports_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_bytes(b'[tool.scheduled.a]\nevery = "d\xe9y"\n')
    (issue,) = validate(path).issues
    assert issue.describe("pyproject.toml") == (
        "pyproject.toml:2:11: SCH002 expected UTF-8 text, got byte 0xe9"
        " (TOML files are UTF-8: re-save the file with that encoding)"
    )


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_bytes(b'\xef\xbb\xbf[tool.scheduled.a]\nevery = "day"\nentrypoint = "a:b"\n')
    assert [j.id for j in load(path).jobs] == ["a"]


def test_directory_path_loads_its_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.scheduled.a]\nevery = "day"\nentrypoint = "a:b"\n'
    )
    project = load(tmp_path)
    assert project.path == tmp_path / "pyproject.toml"
    assert project.root == tmp_path


def test_str_looking_like_a_path_gets_a_hint() -> None:
    (issue,) = validate("pyproject.toml").issues
    assert issue.hint == "to load a file, pass a pathlib.Path, not a str"


def test_jobs_keep_document_order() -> None:
    names = ["zeta", "alpha", "mid", "beta"]
    text = "".join(f'[tool.scheduled.{n}]\nevery = "day"\nentrypoint = "a:b"\n' for n in names)
    assert [job.id for job in load(text).jobs] == names


def test_project_job_lookup_suggests_close_ids() -> None:
    project = load('[tool.scheduled.clean-files]\nevery = "day"\nentrypoint = "a:b"\n')
    assert project.job("clean-files").id == "clean-files"
    with pytest.raises(KeyError, match='did you mean "clean-files"'):
        project.job("clean-file")
