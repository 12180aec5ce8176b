"""`ngs-lake config validate` and `ngs-lake provision`: the document and the lake it describes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ngs_lake.cli.choices import plural
from ngs_lake.cli.options import (
    config_option,
    load_document,
)
from ngs_lake.cli.target import open_target
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.units import format_size

if TYPE_CHECKING:  # provisioning is imported by the command itself: it is slow to load
    from ngs_lake.provisioning.plan import Plan


@click.group("config")
def config_group() -> None:
    """Work with the lake config document."""


@config_group.command("validate")
@config_option
def config_validate(config_path: Path) -> None:
    """Validate the document; print a summary (exit 0) or every problem (exit 1)."""
    config = load_document(config_path)
    click.echo(
        f"{config_path}: valid. {plural(len(config.sites), 'site')}, "
        f"{plural(len(config.gateways), 'gateway')}, "
        f"{plural(len(config.sequencers), 'sequencer')}, "
        f"{plural(len(config.consumers), 'consumer')}."
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
@click.option("--apply", "mode", flag_value="apply", help="Apply the plan, after confirmation.")
@click.option(
    "--yes",
    is_flag=True,
    help="Apply without asking; needed when stdin is not a terminal (scripts, CI).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--show-noop", is_flag=True, help="List resources that are already up to date.")
@click.option(
    "--show-policies",
    is_flag=True,
    help="Print every policy document the lake generates (resource and identity policies).",
)
def provision(
    config_path: Path, mode: str, yes: bool, as_json: bool, show_noop: bool, show_policies: bool
) -> None:
    """Compute the plan from the document against what exists, and apply it with --apply."""
    from ngs_lake.provisioning import ProvisioningRefused, apply_plan, plan_lake

    config = load_document(config_path)
    clients, target = open_target(config)
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
    warning = None if clients.target.is_local else irreversible_changes(plan, config)
    if warning:
        click.echo(warning, err=True)
    if mode != "apply":
        return
    if not plan.mutations:
        click.echo("nothing to apply: every resource is up to date", err=True)
        return
    if not yes:
        confirm_apply(plan, target)
    applied = apply_plan(plan)
    click.echo(f"applied {plural(len(applied), 'change')}", err=as_json)


def irreversible_changes(plan: Plan, config: LakeConfig) -> str | None:
    """On AWS, what no one can take back: buckets that get an Object Lock.

    Object Lock cannot be turned off once a bucket has it, and under COMPLIANCE no one, the
    account's root user included, can delete an object version before its retention ends.
    """
    locked = sorted(
        {c.name for c in plan.mutations if c.resource == "s3-object-lock"}
        & {c.name for c in plan.changes if c.resource == "s3-bucket" and c.action == "create"}
    )
    if not locked:
        return None
    lock = config.lake.object_lock
    return (
        f"IRREVERSIBLE: creates {plural(len(locked), 'bucket')} under Object Lock {lock.mode} with "
        f"{lock.retention_days}-day retention ({', '.join(locked)}); the lock cannot be removed, "
        "and no one, the account's root user included, can delete what they hold or the "
        "buckets themselves before the retention ends"
    )


def confirm_apply(plan: Plan, target: str) -> None:
    """Ask before applying, and refuse when no one can answer (stdin is not a terminal)."""
    counts = ", ".join(f"{n} {action}" for action, n in plan.counts().items() if n)
    click.echo(
        f"about to apply {plural(len(plan.mutations), 'change')} to {target} ({counts})", err=True
    )
    if not sys.stdin.isatty():
        raise click.ClickException(
            "not applied: stdin is not a terminal, so no one can confirm; read the plan, then "
            "run `ngs-lake provision --apply --yes`"
        )
    if not click.confirm("Apply these changes?", default=False, err=True):
        raise click.ClickException("not applied: declined")
