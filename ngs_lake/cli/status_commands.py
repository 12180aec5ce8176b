"""`ngs-lake status` and `ngs-lake catalog query`: what operators read."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ngs_lake.cli.options import (
    config_option,
    load_document,
    load_in_force,
    state_option,
)
from ngs_lake.cli.target import connect


@click.command("status")
@config_option
@click.option("--watch", type=float, metavar="SECONDS", help="Refresh every SECONDS until Ctrl-C.")
def status_command(config_path: Path, watch: float | None) -> None:
    """Queues, dead letters, gateway backlog, runs by state, stalled runs, latest notifications."""
    import time

    from ngs_lake.operations.status import collect_status, render_status

    in_force = load_in_force(config_path)
    config = in_force.document
    clients = connect(config)
    while True:
        text = render_status(collect_status(clients, config))
        if in_force.falls_back:  # one line, then everything else as usual
            text = f"{in_force.status_line()}\n{text}"
        if watch is None:
            click.echo(text)
            return
        click.clear()
        click.echo(text)
        time.sleep(watch)


@click.group("catalog")
def catalog_group() -> None:
    """The inventory catalogue (objects, runs, sequencers) in the catalogue bucket."""


@catalog_group.command("query")
@config_option
@state_option
@click.argument("sql")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
def catalog_query(config_path: Path, state_dir: Path, sql: str, output: str) -> None:
    """Run SQL (DuckDB) over the views `objects`, `runs`, `sequencers` and `samples` (read
    from the per-run sample manifests, so a run's samples are there once it completes).

    \b
    Examples:
      ngs-lake catalog query "SELECT site, strftime(first_modified, '%Y-%m') AS month,
                                     count(*) AS runs FROM runs GROUP BY ALL ORDER BY ALL"
      ngs-lake catalog query "SELECT platform, sum(bytes) FROM sequencers GROUP BY ALL"
      ngs-lake catalog query "SELECT run_key, run_date FROM samples WHERE sample_id = 'S1'"
    """
    import csv

    import duckdb

    from ngs_lake.inventory.query import format_table, mirror_catalogue, open_catalogue, run_query
    from ngs_lake.inventory.samples_catalog import mirror_manifests

    config = load_document(config_path)
    clients = connect(config)
    mirror = mirror_catalogue(clients.s3(), config.lake.catalog_bucket, state_dir / "catalog")
    mirror_manifests(clients.s3(), config.lake.catalog_bucket, mirror)
    with open_catalogue(mirror) as db:
        try:
            columns, rows = run_query(db, sql)
        except duckdb.Error as exc:
            raise click.ClickException(f"query failed: {exc}") from None
    if output == "table":
        click.echo(format_table(columns, rows))
    elif output == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        click.echo(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str))
