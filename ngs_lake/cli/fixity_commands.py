"""`ngs-lake fixity show RUN`: the run's fixity evidence, as the Object Lock evidence bucket
holds it (the verification's record, then each audit that sampled the run)."""

from __future__ import annotations

from pathlib import Path

import click

from ngs_lake.cli.options import config_option, load_document
from ngs_lake.cli.target import connect

SHOWN = ("key", "version_id", "size", "algorithm", "digest", "expected_source", "verified_at")


@click.group("fixity")
def fixity_group() -> None:
    """Fixity evidence: each object's checksum at verification and at each audit."""


@fixity_group.command("show")
@click.argument("run_key")
@config_option
def show(run_key: str, config_path: Path) -> None:
    """Print RUN's fixity evidence (RUN is `<sequencer>/<run folder>`)."""
    from ngs_lake.config.names import LakeNames
    from ngs_lake.fixity.evidence import EvidenceStore
    from ngs_lake.inventory.query import format_table

    config = load_document(config_path)
    store = EvidenceStore(connect(config).s3(), LakeNames.of(config).fixity_evidence_bucket)
    reports = store.reports(run_key)
    if not reports:
        raise click.ClickException(
            f"{run_key}: no fixity evidence yet (it is written by the daily fixity_audit after "
            "the run completes); `ngs-lake runs show` tells whether it completed"
        )
    for key, rows in reports:
        click.echo(f"{key} ({len(rows)} objects)")
        columns = [*SHOWN, "verified_by", "result", "detail"]
        click.echo(format_table(columns, [tuple(r.get(c, "") for c in columns) for r in rows]))
        click.echo("")
