"""`ngs-lake config validate` and `ngs-lake provision`: the document and the lake it describes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.cli.options import (
    config_option,
    load_document,
)
from ngs_lake.config.units import format_size


@click.group("config")
def config_group() -> None:
    """Work with the lake config document."""


@config_group.command("validate")
@config_option
def config_validate(config_path: Path) -> None:
    """Validate the document; print a summary (exit 0) or every problem (exit 1)."""
    config = load_document(config_path)
    click.echo(
        f"{config_path}: valid. {len(config.sites)} sites, {len(config.gateways)} gateways, "
        f"{len(config.sequencers)} sequencers, {len(config.consumers)} consumers."
    )
    click.echo(
        f"\n{'gateway':<12} {'site':<10} {'sequencers':>10} {'cache':>9} {'per day':>10} "
        f"{'buffer days':>11}  (target {config.lake.cache_buffer_days:g})"
    )
    maximum = config.lake.max_sequencers_per_gateway
    for g in config.gateways:
        attached = config.sequencers_on(g.id)
        per_day = sum(s.data_rate for s in attached) * 24
        click.echo(
            f"{g.id:<12} {g.site:<10} {len(attached):>4} / {maximum:<3} "
            f"{format_size(g.cache, iec=True):>9} {format_size(per_day):>10} "
            f"{config.buffer_days(g.id):>11.1f}"
        )


@click.command("provision")
@config_option
@click.option("--plan", "mode", flag_value="plan", default=True, help="Show the plan only.")
@click.option("--apply", "mode", flag_value="apply", help="Apply the plan.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--show-noop", is_flag=True, help="List resources that are already up to date.")
@click.option(
    "--show-policies",
    is_flag=True,
    help="Print every policy document the lake generates (resource and identity policies).",
)
def provision(
    config_path: Path, mode: str, as_json: bool, show_noop: bool, show_policies: bool
) -> None:
    """Compute the plan from the document against what exists, and apply it with --apply."""
    from ngs_lake.provisioning import ProvisioningRefused, apply_plan, plan_lake

    config = load_document(config_path)
    clients = AwsClients(AwsTarget.from_environment(config.lake.region))
    try:
        plan = plan_lake(config, clients)
    except ProvisioningRefused as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(plan.as_dict(), indent=2))
    else:
        click.echo(plan.render(show_noop=show_noop))
    if show_policies:
        click.echo(json.dumps(plan.all_policies, indent=2))
    if mode == "apply":
        applied = apply_plan(plan)
        click.echo(f"applied {len(applied)} change(s)", err=as_json)
