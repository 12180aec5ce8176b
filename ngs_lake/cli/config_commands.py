"""`ngs-lake config validate` and `ngs-lake provision`: the document and the lake it describes."""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime
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
    from ngs_lake.aws.clients import AwsClients
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
@click.option("--history", "mode", flag_value="history", help="List every recorded apply.")
@click.option(
    "--digest",
    metavar="SHA256",
    help="With --apply: the plan digest you reviewed; refused unless the plan still has it.",
)
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
    config_path: Path,
    mode: str,
    digest: str | None,
    yes: bool,
    as_json: bool,
    show_noop: bool,
    show_policies: bool,
) -> None:
    """Compute the plan from the document against what exists, and apply it with --apply.

    Each plan has a digest (its document and every change); `--apply --digest D` applies only
    the plan you reviewed, and each apply is recorded: see `--history`.
    """
    from ngs_lake.provisioning import ProvisioningRefused, apply_plan, plan_lake
    from ngs_lake.provisioning.approvals import StalePlan, check_approval, plan_digest

    config = load_document(config_path)
    clients, target = open_target(config)
    if mode == "history":
        click.echo(apply_history(clients, config))
        return
    try:
        plan = plan_lake(config, clients)
    except ProvisioningRefused as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    current = plan_digest(plan, hashlib.sha256(config_path.read_bytes()).hexdigest())
    if as_json:
        click.echo(json.dumps({**plan.as_dict(), "plan_digest": current}, indent=2))
    else:
        click.echo(plan.render(show_noop=show_noop))
        click.echo(f"plan digest: {current}")
    if show_policies:
        click.echo(json.dumps(plan.all_policies, indent=2))
    warning = None if clients.target.is_local else irreversible_changes(plan, config)
    if warning:
        click.echo(warning, err=True)
    if mode != "apply":
        return
    if digest is None and yes and not clients.target.is_local:
        raise click.ClickException(
            f"not applied: --yes on the aws target needs --digest, the digest of the plan you "
            f"reviewed (this plan's is {current})"
        )
    if digest is not None:
        try:
            check_approval(digest, current)
        except StalePlan as exc:
            raise click.ClickException(str(exc)) from None
    if not plan.mutations:
        click.echo("nothing to apply: every resource is up to date", err=True)
        return
    if not yes:
        confirm_apply(plan, target, current)
    applied = apply_plan(plan)
    key = record_apply(clients, config, config_path, current, len(applied))
    click.echo(f"applied {plural(len(applied), 'change')}; recorded as {key}", err=as_json)


def record_apply(
    clients: AwsClients, config: LakeConfig, config_path: Path, digest: str, applied: int
) -> str:
    """The apply in the history: the digest, the time and the caller's AWS principal."""
    from ngs_lake.provisioning.approvals import ApplyHistory, ApplyRecord, caller_arn, utc_stamp

    record = ApplyRecord(
        digest,
        hashlib.sha256(config_path.read_bytes()).hexdigest(),
        utc_stamp(datetime.now(UTC)),
        caller_arn(clients.sts()),
        "ngs-lake provision",
        applied,
    )
    return ApplyHistory(clients.s3(), config.lake.catalog_bucket).record(record)


def apply_history(clients: AwsClients, config: LakeConfig) -> str:
    from ngs_lake.provisioning.approvals import ApplyHistory

    entries = ApplyHistory(clients.s3(), config.lake.catalog_bucket).entries()
    if not entries:
        return f"no apply recorded in s3://{config.lake.catalog_bucket}/lake-config/applies/"
    lines = [f"{'applied at':<27} {'plan digest':<16} {'config':<12} {'changes':>7}  by, via"]
    lines += [
        f"{e.applied_at:<27} {e.plan_digest[:16]} {e.config_sha256[:12]} {e.changes_applied:>7}"
        f"  {e.applied_by}, {e.via}"
        for e in entries
    ]
    return "\n".join(lines)


def irreversible_changes(plan: Plan, config: LakeConfig) -> str | None:
    """On AWS, what no one can take back: buckets that get an Object Lock.

    Object Lock cannot be turned off once a bucket has it, and under COMPLIANCE no one, the
    account's root user included, can delete an object version before its retention ends.
    """
    from ngs_lake.provisioning.approvals import locked_bucket_creations

    locked = locked_bucket_creations(plan)
    if not locked:
        return None
    lock = config.lake.object_lock
    return (
        f"IRREVERSIBLE: creates {plural(len(locked), 'bucket')} under Object Lock {lock.mode} with "
        f"{lock.retention_days}-day retention ({', '.join(locked)}); the lock cannot be removed, "
        "and no one, the account's root user included, can delete what they hold or the "
        "buckets themselves before the retention ends"
    )


def confirm_apply(plan: Plan, target: str, digest: str) -> None:
    """Ask before applying, and refuse when no one can answer (stdin is not a terminal)."""
    counts = ", ".join(f"{n} {action}" for action, n in plan.counts().items() if n)
    click.echo(
        f"about to apply plan {digest}: {plural(len(plan.mutations), 'change')} to {target} "
        f"({counts})",
        err=True,
    )
    if not sys.stdin.isatty():
        raise click.ClickException(
            "not applied: stdin is not a terminal, so no one can confirm; read the plan, then "
            f"run `ngs-lake provision --apply --yes --digest {digest}`"
        )
    if not click.confirm("Apply these changes?", default=False, err=True):
        raise click.ClickException("not applied: declined")
