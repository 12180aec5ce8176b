"""The ARNs of every resource the lake owns, and the plumbing shared by its IAM documents.

Pure: built from the config document plus the two facts only AWS knows (the account and the lake
key's ARN), so every document can be printed with a plan and evaluated in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames, event_shards

if TYPE_CHECKING:
    from ngs_lake.provisioning.context import ProvisioningContext

Document = dict[str, Any]
Statement = dict[str, Any]

VERSION = "2012-10-17"
# deploy/dagster.yaml names the compute-log bucket through the environment, not the document.
COMPUTE_LOG_PLACEHOLDER = "<NGS_LAKE_COMPUTE_LOG_BUCKET>"
COMPUTE_LOG_PREFIX = "dagster/compute-logs"  # deploy/dagster.yaml compute_logs.config.prefix


def document(statements: list[Statement]) -> Document:
    return {"Version": VERSION, "Statement": statements}


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def objects_arn(bucket: str, prefix: str = "") -> str:
    return f"{bucket_arn(bucket)}/{prefix}*"


def allow(sid: str, actions: list[str], resources: list[str] | str, **extra: Any) -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


@dataclass(frozen=True)
class PolicyTarget:
    """What the documents need beyond the config: the account, the lake key's ARN (a placeholder
    before the plan creates it) and the Dagster instance's compute-log bucket."""

    account: str
    key_arn: str
    compute_log_bucket: str = COMPUTE_LOG_PLACEHOLDER

    @classmethod
    def of(cls, ctx: ProvisioningContext, compute_log_bucket: str | None = None) -> PolicyTarget:
        return cls(
            ctx.account, ctx.key_arn_or_placeholder(), compute_log_bucket or COMPUTE_LOG_PLACEHOLDER
        )


@dataclass(frozen=True)
class LakeArns:
    """Every ARN of the lake, from the document's names (config/names.py) and the target."""

    config: LakeConfig
    target: PolicyTarget

    @cached_property
    def names(self) -> LakeNames:
        return LakeNames.of(self.config)

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.config.lake.region}:{self.target.account}:{resource}"

    @property
    def key(self) -> str:
        return self.target.key_arn

    @property
    def key_alias(self) -> str:
        return self._arn("kms", self.config.lake.kms_key_alias)

    @property
    def any_key(self) -> str:
        return self._arn("kms", "key/*")

    @property
    def s3_service(self) -> str:
        """kms:ViaService for S3 in the lake's region: SSE-KMS calls S3 makes for a principal."""
        return f"s3.{self.config.lake.region}.amazonaws.com"

    @property
    def sequencer_buckets(self) -> list[str]:
        return [self.names.bucket(s.id) for s in self.config.sequencers]

    @property
    def lake_buckets(self) -> list[str]:
        lake = self.config.lake
        return [lake.access_log_bucket, lake.inventory.bucket, lake.catalog_bucket]

    def table(self, name: str, indexes: bool = False) -> list[str]:
        arn = self._arn("dynamodb", f"table/{name}")
        return [arn, f"{arn}/index/*"] if indexes else [arn]

    @property
    def tables(self) -> list[str]:
        n = self.names
        names = (
            n.runs_table,
            n.run_files_table,
            n.run_log_table,
            n.gateways_table,
            n.events_table,
            n.shares_table,
            n.alerts_table,
            n.unrecognised_folders_table,
        )
        return [arn for name in names for arn in self.table(name)]

    def queue(self, name: str) -> str:
        return self._arn("sqs", name)

    @property
    def event_queues(self) -> list[str]:
        return [self.queue(s.queue) for s in event_shards(self.config)]

    @property
    def dead_letter_queues(self) -> list[str]:
        return [self.queue(s.dead_letter_queue) for s in event_shards(self.config)]

    @property
    def consumer_queues(self) -> list[str]:
        return [self.queue(self.names.consumer_queue(c.name)) for c in self.config.consumers]

    @property
    def topic(self) -> str:
        return self._arn("sns", self.names.run_events_topic)

    @property
    def operations_topic(self) -> str:
        return self._arn("sns", self.names.operations_topic)

    def rule(self, name: str) -> str:
        return self._arn("events", f"rule/{name}")

    @property
    def lake_rules(self) -> str:
        """The lake-wide rule and every per-site one: `<prefix>-[<site>-]gateway-events`."""
        return self.rule(f"{self.names.prefix}-*gateway-events")

    @property
    def default_event_bus(self) -> str:
        return self._arn("events", "event-bus/default")

    # A share's ARN is only known once it exists, and a gateway may be found by name: the
    # lake's shares and gateways are every one in the account and region.
    @property
    def shares(self) -> str:
        return self._arn("storagegateway", "share/*")

    @property
    def gateways(self) -> str:
        return self._arn("storagegateway", "gateway/*")
