# ruff: noqa: N803 - the fakes take boto3's own parameter names
"""SNS topics under the virtual clock, each delivering to a recording consumer.

A FIFO topic follows AWS's deduplication rule: a message whose MessageDeduplicationId was
accepted in the last 5 minutes is accepted but not delivered; after that it is delivered again
(https://docs.aws.amazon.com/sns/latest/dg/fifo-message-dedup.html). moto only drops a duplicate
while the first copy still sits in a subscribed FIFO queue, which the differential test names.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from ngs_lake_tests.simulation.clock import VirtualClock
from ngs_lake_tests.simulation.fake_sqs import ACCOUNT, REGION, client_error

DEDUP_INTERVAL_SECONDS = 300


@dataclass(frozen=True)
class Delivery:
    """One message as a subscriber received it."""

    topic: str
    body: str
    group_id: str | None
    dedup_id: str | None
    attributes: dict[str, Any]
    at: float


@dataclass
class FakeTopic:
    arn: str
    fifo: bool
    accepted: dict[str, float] = field(default_factory=dict)  # dedup id -> accepted at
    sequence: int = 0


class FakeSns:
    def __init__(self, clock: VirtualClock, rng: random.Random) -> None:
        self.clock = clock
        self.rng = rng
        self.topics: dict[str, FakeTopic] = {}
        self.deliveries: list[Delivery] = []
        self.answers_lost: set[int] = set()  # deliveries whose publisher never got the answer

    def create_topic(self, Name: str, Attributes: dict[str, str] | None = None) -> dict:
        arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{Name}"
        fifo = (Attributes or {}).get("FifoTopic") == "true"
        if fifo != Name.endswith(".fifo"):
            raise client_error(
                "InvalidParameter", "Fifo Topic names must end with .fifo", "CreateTopic"
            )
        self.topics.setdefault(arn, FakeTopic(arn, fifo))
        return {"TopicArn": arn}

    def publish(
        self,
        TopicArn: str,
        Message: str,
        MessageGroupId: str | None = None,
        MessageDeduplicationId: str | None = None,
        MessageAttributes: dict | None = None,
        Subject: str | None = None,
        MessageStructure: str | None = None,
    ) -> dict:
        topic = self.topics.get(TopicArn)
        if topic is None:
            raise client_error("NotFound", "Topic does not exist", "Publish", 404)
        if topic.fifo and not MessageGroupId:
            raise client_error(
                "InvalidParameter",
                "Invalid parameter: The MessageGroupId parameter is required for FIFO topics",
                "Publish",
            )
        if topic.fifo and not MessageDeduplicationId:
            raise client_error(
                "InvalidParameter",
                "Invalid parameter: The topic should either have ContentBasedDeduplication "
                "enabled or MessageDeduplicationId provided explicitly",
                "Publish",
            )
        now = self.clock.timestamp()
        answer = {"MessageId": str(uuid.UUID(int=self.rng.getrandbits(128)))}
        if topic.fifo:
            topic.sequence += 1
            answer["SequenceNumber"] = f"{topic.sequence:020d}"
            first = topic.accepted.get(MessageDeduplicationId)
            if first is not None and now - first < DEDUP_INTERVAL_SECONDS:
                return answer  # accepted, not delivered
            topic.accepted[MessageDeduplicationId] = now
        self.deliveries.append(
            Delivery(
                TopicArn,
                Message,
                MessageGroupId,
                MessageDeduplicationId,
                dict(MessageAttributes or {}),
                now,
            )
        )
        return answer

    def delivered_to(self, topic_arn: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.topic == topic_arn]
