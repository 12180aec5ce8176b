"""`ngs-lake`: the operator's command line. Each command is a thin shell over a library function;
one module per command group. An AWS error in any of them ends in one line naming the resource
and the fix (`errors.LakeGroup`), never a traceback."""

from __future__ import annotations

import logging

import click

from ngs_lake.cli.alerts_commands import alerts_group
from ngs_lake.cli.config_commands import config_group, provision
from ngs_lake.cli.dlq_commands import dlq_group
from ngs_lake.cli.errors import LakeGroup
from ngs_lake.cli.fixity_commands import fixity_group
from ngs_lake.cli.gateway_commands import gateway_group
from ngs_lake.cli.local_commands import demo_command, local_group
from ngs_lake.cli.runs_commands import runs_group
from ngs_lake.cli.sheets_commands import runs_pin_sheet, runs_sheets
from ngs_lake.cli.simulate_command import simulate_command
from ngs_lake.cli.status_commands import catalog_group, status_command


@click.group(cls=LakeGroup)
@click.option(
    "-v", "--verbose", is_flag=True, help="Log at debug level; show tracebacks of AWS errors."
)
def main(verbose: bool) -> None:
    """ngs_lake: a sequencing data lake on S3, Storage Gateway and Dagster."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Their INFO lines (each AWS call; the Dagster instance's SQLite migrations) bury ours.
    for noisy in ("botocore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


main.add_command(config_group)
main.add_command(provision)
main.add_command(gateway_group)
main.add_command(dlq_group)
main.add_command(runs_group)
assert runs_sheets and runs_pin_sheet  # registered on `runs` by their module (issue #31)
main.add_command(alerts_group)
main.add_command(status_command)
main.add_command(catalog_group)
main.add_command(fixity_group)
main.add_command(simulate_command)
main.add_command(demo_command)
main.add_command(local_group)
