"""`ngs-lake gateway run`: the software file gateway as a process of its own."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import click

from ngs_lake.aws.clients import AwsTarget
from ngs_lake.cli.options import (
    config_option,
    load_document,
    state_option,
)
from ngs_lake.cli.target import connect


@click.group("gateway")
def gateway_group() -> None:
    """The software file gateway."""


@gateway_group.command("run")
@config_option
@state_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    callback=lambda ctx, param, value: _ip_address(value),
    help="Address to bind. Loopback unless given: any other address serves the API beyond "
    "this machine, over plain HTTP (requests are still checked for a SigV4 signature).",
)
@click.option("--port", default=4570, show_default=True, type=int)
@click.option(
    "--gateway",
    "gateway_ids",
    multiple=True,
    help="Serve only these gateway ids from the document (default: all).",
)
@click.option("--account", help="AWS account id for ARNs (default: ask STS).")
@click.option(
    "--upload-workers",
    type=click.IntRange(1, 64),
    help="Concurrent uploads (default: 8 to AWS, 4 to the local stand-in).",
)
def gateway_run(
    config_path: Path,
    state_dir: Path,
    host: str,
    port: int,
    gateway_ids: tuple[str, ...],
    account: str | None,
    upload_workers: int | None,
) -> None:
    """Serve the Storage Gateway API for the document's gateways on loopback.

    Requests must be signed with NGS_LAKE_GATEWAY_ACCESS_KEY_ID and
    NGS_LAKE_GATEWAY_SECRET_ACCESS_KEY (for the local target, unset means the stand-in's test
    credentials, testing/testing).
    """
    from ngs_lake.gateway.server import run_gateway
    from ngs_lake.gateway.signatures import GatewayCredentials

    config = load_document(config_path)
    try:
        is_local = AwsTarget.from_environment(config.lake.region).is_local
        GatewayCredentials.from_environment(os.environ, is_local)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    unknown = set(gateway_ids) - {g.id for g in config.gateways}
    if unknown:
        raise click.BadParameter(
            f"not in the document: {', '.join(sorted(unknown))}", param_hint="--gateway"
        )
    clients = connect(config)  # uploads need AWS credentials: refused at once without them
    if account is None:
        account = clients.account_id()
    only = set(gateway_ids) or None
    run_gateway(config, state_dir, account, host, port, only, upload_workers=upload_workers)


def _ip_address(value: str) -> str:
    """An IP address, not a host name: the address the API is reachable at is then explicit."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an IP address; give one, e.g. 127.0.0.1", param_hint="--host"
        ) from None
