"""``scheduled export``: the schedule as crontab, systemd units, CronJobs or a workflow."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from scheduled_spec.cli.common import EXIT_INVALID, display_name, valid_project
from scheduled_spec.export import TARGETS, ExportError, ExportOptions, export


@click.command(name="export")
@click.argument("target", type=click.Choice(list(TARGETS)))
@click.argument("path", default=".", type=click.Path())
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the files into this directory (created if needed) instead of printing.",
)
@click.option("--salt", default="", help="The provider's salt, if it uses one.")
@click.option(
    "--project-dir",
    metavar="DIR",
    help="Where the project is on the machine that runs the jobs (default: its"
    " absolute path here; for kubernetes and github-actions: the working directory).",
)
@click.option(
    "--command",
    "command",
    default="scheduled",
    show_default=True,
    help="How to invoke scheduled-spec there, e.g. '/opt/venv/bin/scheduled'.",
)
@click.option("--image", help="kubernetes: the container image holding the project.")
@click.option("--namespace", help="kubernetes: the namespace of the CronJobs.")
@click.option(
    "--install",
    default="pip install scheduled-spec",
    show_default=True,
    help="github-actions: the step that installs scheduled-spec and your project.",
)
@click.option(
    "--skip-unsupported",
    is_flag=True,
    help="Leave out, with a warning, the jobs the target cannot express (each named, with"
    " the reason).",
)
def export_command(
    target: str,
    path: str,
    output: Path | None,
    salt: str,
    project_dir: str | None,
    command: str,
    image: str | None,
    namespace: str | None,
    install: str,
    skip_unsupported: bool,
) -> None:
    """Export the schedule to a scheduler you already run.

    The exported schedule fires at the instants `scheduled show` lists, to the precision the
    target offers (crontab, Kubernetes and GitHub Actions have minutes: the seconds are
    dropped, and the output says so), `at`, `timezone`, `cron` and `interval` included. A
    job the target cannot express is refused with the reason; run policy keys the target
    cannot enforce are named in a comment. Each entry runs `scheduled run-once -- JOB DIR`.
    Use an export instead of `scheduled run`, not beside it.

    \b
    TARGET is one of: crontab, systemd, kubernetes, github-actions.

    \b
    Examples:
        scheduled export crontab | crontab -
        scheduled export systemd -o ~/.config/systemd/user
        scheduled export kubernetes --image registry.example/app:1.4 -o k8s/
        scheduled export github-actions -o .github/workflows
    """
    project, filename = valid_project(path, otherwise="nothing exported")
    in_place = target in ("kubernetes", "github-actions")
    here = (project.root or Path()).resolve()  # a project read from a file has a root
    where = Path(project_dir) if project_dir else (Path() if in_place else here)
    options = ExportOptions(
        project_dir=where,
        command=tuple(shlex.split(command)) or ("scheduled",),
        salt=salt,
        image=image,
        namespace=namespace,
        extra={"install": install},
    )
    while True:  # each pass leaves out at least one job, so this ends
        try:
            files = export(target, project, options)
            break
        except ExportError as exc:
            if not (skip_unsupported and exc.jobs and len(exc.jobs) < len(project.jobs)):
                click.echo(f"{filename}: {exc}", err=True)
                raise SystemExit(EXIT_INVALID) from None
            for reason in exc.reasons:
                click.echo(f"{filename}: warning: left out: {reason}", err=True)
            kept = tuple(job for job in project.jobs if job.id not in exc.jobs)
            project = project.model_copy(update={"jobs": kept})
    if output is None:
        for index, exported in enumerate(files):
            if len(files) > 1:
                separator = "---\n" if target == "kubernetes" else ""
                click.echo(f"{separator if index else ''}# ==> {exported.name} <==")
            click.echo(exported.text, nl=False)
        return
    output.mkdir(parents=True, exist_ok=True)
    root = output.resolve()
    for exported in files:
        destination = (root / exported.name).resolve()
        # Names are built from job IDs: make sure none can leave the output directory.
        if destination.parent != root:
            raise click.ClickException(f"refusing to write outside {output}: {exported.name!r}")
        destination.write_text(exported.text, encoding="utf-8")
        click.echo(f"wrote {display_name(destination)}")
