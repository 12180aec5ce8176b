"""What every planner needs: the document, the clients, the target's limits and the lake's key."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames


@dataclass
class ProvisioningContext:
    config: LakeConfig
    clients: AwsClients
    account: str
    names: LakeNames
    _key_arn: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, config: LakeConfig, clients: AwsClients) -> ProvisioningContext:
        return cls(config, clients, clients.account_id(), LakeNames.of(config))

    @property
    def region(self) -> str:
        return self.config.lake.region

    @property
    def is_local(self) -> bool:
        return self.clients.target.is_local

    def key_arn(self) -> str | None:
        """The lake key's ARN once its alias exists; planners call it again at apply time."""
        with self._lock:
            if self._key_arn is None:
                try:
                    metadata = self.clients.kms().describe_key(KeyId=self.config.lake.kms_key_alias)
                    self._key_arn = metadata["KeyMetadata"]["Arn"]
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "NotFoundException":
                        raise
            return self._key_arn

    def require_key_arn(self) -> str:
        arn = self.key_arn()
        if arn is None:
            raise RuntimeError(
                f"KMS alias {self.config.lake.kms_key_alias} does not exist; the key stage of the "
                "plan must run first"
            )
        return arn

    def key_arn_or_placeholder(self) -> str:
        """For documents shown in a plan before the key exists."""
        return self.key_arn() or f"arn:aws:kms:{self.region}:{self.account}:key/<created-by-plan>"


# What SNS answers GetTopicAttributes for a topic that does not exist.
TOPIC_MISSING = {"NotFound", "NotFoundException"}


def read_or_none(call: Any, missing: set[str], **kwargs: Any) -> Any:
    """Call a Get*/Describe*; None when AWS answers that the thing is not set."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in missing:
            return None
        raise
