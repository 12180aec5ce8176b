"""Dagster resources: where AWS is, and which config document describes the lake.

Both read the environment when a run uses them, not when definitions load, so one code location
serves the local stand-in and real AWS alike.
"""

from __future__ import annotations

import functools
import os
from dataclasses import replace

from dagster import ConfigurableResource
from dagster_aws.utils import ResourceWithBoto3Configuration
from pydantic import Field

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.model import LakeConfig
from ngs_lake.provisioning.document_in_force import DocumentInForce, load_document_in_force


class AwsConnection(ResourceWithBoto3Configuration):
    """Region, endpoint and profile for every AWS client, plus the Storage Gateway API endpoint.

    Unset fields come from NGS_LAKE_AWS_ENDPOINT_URL, NGS_LAKE_STORAGEGATEWAY_ENDPOINT_URL,
    NGS_LAKE_TARGET and the usual AWS_* variables; with none of them set it targets real AWS.
    """

    storagegateway_endpoint_url: str | None = Field(
        default=None, description="Storage Gateway API endpoint; the local gateway when set."
    )
    target: str | None = Field(default=None, description="'local' or 'aws'.")

    def aws_target(self, default_region: str | None = None) -> AwsTarget:
        environ = dict(os.environ)
        if self.target:
            environ["NGS_LAKE_TARGET"] = self.target
        base = AwsTarget.from_environment(default_region, environ)
        return replace(
            base,
            region=self.region_name or base.region,
            endpoint_url=self.endpoint_url or base.endpoint_url,
            storagegateway_endpoint_url=self.storagegateway_endpoint_url
            or base.storagegateway_endpoint_url,
            profile=self.profile_name or base.profile,
        )

    def clients(self, default_region: str | None = None) -> AwsClients:
        credentials = {
            key: value
            for key, value in (
                ("aws_access_key_id", self.aws_access_key_id),
                ("aws_secret_access_key", self.aws_secret_access_key),
                ("aws_session_token", self.aws_session_token),
            )
            if value
        }
        return shared_clients(self.aws_target(default_region), tuple(sorted(credentials.items())))


@functools.lru_cache(maxsize=32)
def shared_clients(target: AwsTarget, credentials: tuple[tuple[str, str], ...]) -> AwsClients:
    """One set of clients per target and credentials for the whole process. A sensor builds its
    resources every tick, and building a boto3 session and its clients cost about two thirds of
    a tick's time (py-spy, bench/latency.py); built clients are thread-safe, and clients on the
    default credential chain refresh their own credentials."""
    return AwsClients(target, dict(credentials) or None)


class LakeConfigResource(ConfigurableResource):
    """The config document; `path` defaults to $NGS_LAKE_CONFIG, then config/lake.yaml.

    Every sensor, asset and job loads the document in force through it: the file when valid
    (and then recorded), else the last valid document recorded in the catalogue bucket
    (provisioning/document_in_force.py), so a typo in the file never stops the lake.
    """

    path: str | None = None

    def resolved_path(self) -> str:
        return self.path or os.environ.get("NGS_LAKE_CONFIG", "config/lake.yaml")

    def in_force(self, aws: AwsConnection) -> DocumentInForce:
        target = aws.aws_target()
        return load_document_in_force(
            self.resolved_path(), lambda region: aws.clients(region).s3(), target.name
        )

    def load(self, aws: AwsConnection) -> LakeConfig:
        return self.in_force(aws).document
