"""`ngs-lake dlq list | redrive`: inspect and replay the parked gateway events."""

from __future__ import annotations

from pathlib import Path

import click

from ngs_lake.cli.choices import plural, require_known
from ngs_lake.cli.options import (
    config_option,
    load_document,
    site_option,
)
from ngs_lake.cli.target import connect
from ngs_lake.runs.dlq import LONG_POLL_SECONDS

wait_option = click.option(
    "--wait",
    "wait_seconds",
    default=LONG_POLL_SECONDS,
    show_default=True,
    type=click.IntRange(1, LONG_POLL_SECONDS),
    help="Seconds each receive long-polls; the listing ends after one empty long poll. Below "
    "20, a small DLQ on AWS can list as empty.",
)


@click.group("dlq")
def dlq_group() -> None:
    """The dead-letter queue: rejected gateway events, each with its reason."""


def _event_queues(config_path: Path, site: str | None) -> tuple[object, list[tuple[str, str, str]]]:
    """The SQS client and, per event queue (one site's with `site`): label, DLQ and queue URLs."""
    from ngs_lake.config.names import event_shards

    config = load_document(config_path)
    shards = event_shards(config)
    if site is not None:
        require_known(site, (s.id for s in config.sites), "site", "--site")
        shards = tuple(s for s in shards if s.site == site)
        if not shards:
            per_site = sorted(x.site for x in event_shards(config) if x.site)
            raise click.UsageError(
                f"--site {site}: no event queue of its own; "
                + (f"sites: {', '.join(per_site)}" if per_site else "lake.event_queues is 'one'")
            )
    sqs = connect(config).sqs()
    return sqs, [
        (
            shard.site or "lake",
            sqs.get_queue_url(QueueName=shard.dead_letter_queue)["QueueUrl"],
            sqs.get_queue_url(QueueName=shard.queue)["QueueUrl"],
        )
        for shard in shards
    ]


@dlq_group.command("list")
@config_option
@site_option
@click.option("--body", "show_body", is_flag=True, help="Print each message body too.")
@wait_option
def dlq_list(config_path: Path, site: str | None, show_body: bool, wait_seconds: int) -> None:
    """Show each parked message with its reason; nothing is consumed."""
    from ngs_lake.runs.dlq import list_parked

    sqs, queues = _event_queues(config_path, site)
    for label, dlq_url, _ in queues:
        # SQS long-polls: an empty queue answers only after the wait, so say what is awaited.
        click.echo(
            f"reading {dlq_url.rsplit('/', 1)[-1]}: each receive waits up to {wait_seconds} s "
            "for messages; the listing ends after one empty wait",
            err=True,
        )
        parked = list_parked(sqs, dlq_url, wait_seconds=wait_seconds)
        prefix = "" if len(queues) == 1 else f"{label}: "
        click.echo(f"{prefix}{plural(len(parked), 'parked message')}")
        for message in parked:
            click.echo(
                f"- {message.message_id}  {message.rejected_at or '-'}\n  reason: {message.reason}"
            )
            if show_body:
                click.echo(f"  body: {message.body[:2000]}")


@dlq_group.command("redrive")
@config_option
@site_option
@click.option("--reason", help="Only messages whose reason contains this text.")
@wait_option
def dlq_redrive(config_path: Path, site: str | None, reason: str | None, wait_seconds: int) -> None:
    """Send parked messages back to their event queue, after the cause is fixed."""
    from ngs_lake.runs.dlq import redrive

    sqs, queues = _event_queues(config_path, site)
    click.echo(
        f"reading {plural(len(queues), 'dead-letter queue')}: each receive waits up to "
        f"{wait_seconds} s for messages; redriving ends after one empty wait",
        err=True,
    )
    moved = sum(
        redrive(sqs, dlq_url, queue_url, reason, wait_seconds) for _, dlq_url, queue_url in queues
    )
    click.echo(f"redrove {plural(moved, 'message')}")
