"""Where a command's AWS calls go, said on stderr before the first one.

With AWS credentials in the environment and no `NGS_LAKE_*` exports, every command would go to
real AWS without a word; one missed export is enough. So each command that reaches AWS connects
through `connect`, which checks that credentials exist at all and names the target: on the local
target its endpoint, on the `aws` target the account and caller from STS GetCallerIdentity.
"""

from __future__ import annotations

import boto3
import click
from botocore.exceptions import NoCredentialsError

from ngs_lake.aws.clients import ENDPOINT_ENV, TARGET_ENV, AwsClients, AwsTarget
from ngs_lake.config.model import LakeConfig


def connect(config: LakeConfig) -> AwsClients:
    """Clients for the environment's target, after naming it on stderr."""
    return open_target(config)[0]


def open_target(config: LakeConfig) -> tuple[AwsClients, str]:
    """`connect`, also returning the target's description for a confirmation to repeat."""
    try:
        target = AwsTarget.from_environment(config.lake.region)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if target.is_local and not target.endpoint_url:
        raise click.ClickException(
            f"{TARGET_ENV}=local, but {ENDPOINT_ENV} is unset, so calls would go to AWS: paste "
            "the exports that `ngs-lake local up` printed"
        )
    session = boto3.Session(profile_name=target.profile)
    if session.get_credentials() is None:
        # The local stand-in takes any key, but botocore signs nothing without one.
        raise NoCredentialsError()
    clients = AwsClients(target, session=session)
    description = describe_target(clients)
    click.echo(f"target: {description}", err=True)
    return clients, description


def describe_target(clients: AwsClients) -> str:
    """`local stand-in at http://127.0.0.1:4566, region us-east-1`, or on AWS the account and
    the caller."""
    target = clients.target
    if target.is_local:
        where = f"local stand-in at {target.endpoint_url}, region {target.region}"
    else:
        identity = clients.sts().get_caller_identity()
        where = f"AWS account {identity['Account']} as {identity['Arn']}, region {target.region}"
        if target.endpoint_url:
            where += f", through {target.endpoint_url}"
    if target.storagegateway_endpoint_url:
        where += f"; Storage Gateway API at {target.storagegateway_endpoint_url}"
    return where
