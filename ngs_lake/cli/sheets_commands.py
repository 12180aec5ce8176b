"""`ngs-lake runs sheets | pin-sheet`: a run's sample sheet versions, and the operator's pin
(issue #31). Added to the `runs` group; kept apart from runs_commands.py."""

from __future__ import annotations

from pathlib import Path

import click

from ngs_lake.cli.options import config_option
from ngs_lake.cli.runs_commands import _ledger, _run, runs_group


@runs_group.command("sheets")
@config_option
@click.argument("run_key")
def runs_sheets(config_path: Path, run_key: str) -> None:
    """Every recorded version of the run's sample sheet, oldest first; `*` marks the one in
    force. Counts and projects only: sample names are in the run's sample manifest."""
    from ngs_lake.runs.sample_sheets import SampleSheetRecorder

    _, clients, ledger = _ledger(config_path)
    run = _run(ledger, run_key)
    versions = SampleSheetRecorder(clients.s3(), ledger).versions(run_key)
    if not versions:
        refused = (run.samplesheet or {}).get("reason")  # S3 refused it when the run completed
        click.echo(f"{run_key}: no sample sheet recorded" + (f"; {refused}" if refused else ""))
        return
    current = (run.samplesheet or {}).get("entry")
    completed = (run.samplesheet_at_completion or {}).get("entry")
    for v in versions:
        marks = ("*" if v.entry == current else " ") + ("c" if v.entry == completed else " ")
        status = v.status + (f": {v.reason}" if v.reason else "")
        click.echo(
            f"{marks} {v.number:>3}  {v.landed_at}  {v.path}  version {v.version_id}  "
            f"sha256 {v.digest[:16]}  {v.sample_count} samples, {v.projects_total} projects  "
            f"{status}"
        )
    pinned = (run.samplesheet or {}).get("pinned")
    if pinned:
        click.echo(f"pinned: {pinned}")
    click.echo("(* in force; c carried by run.completed)")


@runs_group.command("pin-sheet")
@config_option
@click.argument("run_key")
@click.argument("version")
@click.option("--reason", required=True, help="Why this version is the authoritative one.")
def runs_pin_sheet(config_path: Path, run_key: str, version: str, reason: str) -> None:
    """Make VERSION (its S3 version id, or a digest prefix of 8+ characters) the run's sample
    sheet. Recorded with its reason; a completed run announces run.samplesheet_changed.
    Nothing is overwritten: every version and earlier pin stays listed."""
    from ngs_lake.runs.ledger import TransitionConflict
    from ngs_lake.runs.sample_sheets import SampleSheetRecorder, SheetNotFound

    if not reason.strip():
        raise click.ClickException("--reason must say why this version is the right one")
    _, clients, ledger = _ledger(config_path)
    _run(ledger, run_key)
    try:
        pinned = SampleSheetRecorder(clients.s3(), ledger).pin(run_key, version, reason.strip())
    except SheetNotFound as exc:
        raise click.ClickException(str(exc)) from None
    except TransitionConflict as exc:
        raise click.ClickException(f"{exc}; try again") from None
    click.echo(
        f"{run_key}: sample sheet pinned to {pinned.path} version {pinned.version_id} "
        f"(sha256 {pinned.digest[:16]}): {pinned.pinned}"
    )
