"""``scheduled schema``: the JSON Schema of [tool.scheduled], for editors and validators."""

from __future__ import annotations

from pathlib import Path

import click

from scheduled_spec.schema import render, tool_schema


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the schema to this file instead of standard output.",
)
def schema(output: Path | None) -> None:
    """Print the JSON Schema (draft 2020-12) of the [tool.scheduled] table.

    It is generated from the same models `scheduled validate` uses, and accepts the same
    structure: the five cadences, the entrypoint grammar, job ID limits, no unknown keys.
    (Semantic checks, such as portability warnings, are `scheduled validate`'s alone.)

    \b
    Examples:
        scheduled schema > tool-scheduled.schema.json
        scheduled schema -o .vscode/tool-scheduled.schema.json
    """
    text = render(tool_schema())
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
