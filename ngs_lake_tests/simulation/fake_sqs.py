# ruff: noqa: N803 - the fakes take boto3's own parameter names
"""A standard SQS queue with AWS's delivery semantics under the virtual clock, so the simulation
controls what moto cannot: the order of a receive, redelivery after the visibility timeout,
redrive to the DLQ after `maxReceiveCount` receives, and retention.

Each behaviour follows the SQS Developer Guide; where moto differs the differential test
(test_simulation_fakes.py) leaves the difference out by name, with these links:
- at-least-once, best-effort order ("standard queues"):
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues.html
- visibility timeout, ChangeMessageVisibility 0:
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html
- a delete needs the latest receipt handle ("the request succeeds, but the message might not be
  deleted"): https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessage.html
- redrive and the DLQ keeping the original enqueue time:
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ngs_lake_tests.simulation.clock import VirtualClock

ACCOUNT = "123456789012"
REGION = "us-east-1"
MAX_BATCH = 10


def client_error(code: str, message: str, operation: str, status: int = 400) -> ClientError:
    """The exception botocore raises for an AWS error answer."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


@dataclass
class QueuedMessage:
    message_id: str
    body: str
    attributes: dict[str, Any]
    sent_at: float  # the original enqueue time, kept through a redrive
    visible_at: float
    receive_count: int = 0
    handle: str | None = None  # the latest receipt handle; older ones delete nothing
    first_received_at: float | None = None


@dataclass
class FakeQueue:
    name: str
    url: str
    arn: str
    visibility_timeout: int = 30
    retention: int = 4 * 24 * 3600
    dead_letter_arn: str | None = None
    max_receive_count: int = 0
    messages: list[QueuedMessage] = field(default_factory=list)


class FakeSqs:
    """The subset of the SQS API the lake calls, one instance per simulated account."""

    def __init__(self, clock: VirtualClock, rng: random.Random, reorder: bool = True) -> None:
        self.clock = clock
        self.rng = rng
        # "any": shuffled (the default); "oldest first" (moto's order, for comparing with it);
        # "newest first": the adversarial order for watermarks, still a standard queue's.
        self.order = "any" if reorder else "oldest first"
        self.queues: dict[str, FakeQueue] = {}

    # Queues

    def create_queue(self, QueueName: str, Attributes: dict[str, str] | None = None) -> dict:
        url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{QueueName}"
        if url not in self.queues:
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QueueName}"
            self.queues[url] = FakeQueue(QueueName, url, arn)
        self.set_queue_attributes(url, Attributes or {})
        return {"QueueUrl": url}

    def set_queue_attributes(self, QueueUrl: str, Attributes: dict[str, str]) -> dict:
        queue = self._queue(QueueUrl, "SetQueueAttributes")
        if "VisibilityTimeout" in Attributes:
            queue.visibility_timeout = int(Attributes["VisibilityTimeout"])
        if "MessageRetentionPeriod" in Attributes:
            queue.retention = int(Attributes["MessageRetentionPeriod"])
        if "RedrivePolicy" in Attributes:
            policy = json.loads(Attributes["RedrivePolicy"])
            queue.dead_letter_arn = policy["deadLetterTargetArn"]
            queue.max_receive_count = int(policy["maxReceiveCount"])
        return {}

    def get_queue_url(self, QueueName: str) -> dict:
        for queue in self.queues.values():
            if queue.name == QueueName:
                return {"QueueUrl": queue.url}
        raise client_error(
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
            "GetQueueUrl",
        )

    def _queue(self, url: str, operation: str) -> FakeQueue:
        if url not in self.queues:
            raise client_error(
                "AWS.SimpleQueueService.NonExistentQueue",
                "The specified queue does not exist.",
                operation,
            )
        queue = self.queues[url]
        now = self.clock.timestamp()
        queue.messages = [m for m in queue.messages if now - m.sent_at < queue.retention]
        return queue

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str] = ()) -> dict:
        queue = self._queue(QueueUrl, "GetQueueAttributes")
        now = self.clock.timestamp()
        visible = sum(1 for m in queue.messages if m.visible_at <= now and m.receive_count == 0)
        delayed = sum(1 for m in queue.messages if m.visible_at > now and m.receive_count == 0)
        hidden = sum(1 for m in queue.messages if m.receive_count and m.visible_at > now)
        visible += sum(1 for m in queue.messages if m.receive_count and m.visible_at <= now)
        values = {
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(hidden),
            "ApproximateNumberOfMessagesDelayed": str(delayed),
            "VisibilityTimeout": str(queue.visibility_timeout),
            "QueueArn": queue.arn,
        }
        wanted = values if "All" in AttributeNames else {k: values[k] for k in AttributeNames}
        return {"Attributes": wanted}

    # Messages

    def send_message(
        self,
        QueueUrl: str,
        MessageBody: str,
        DelaySeconds: int = 0,
        MessageAttributes: dict | None = None,
    ) -> dict:
        queue = self._queue(QueueUrl, "SendMessage")
        now = self.clock.timestamp()
        message = QueuedMessage(
            str(uuid.UUID(int=self.rng.getrandbits(128))),
            MessageBody,
            dict(MessageAttributes or {}),
            now,
            now + DelaySeconds,
        )
        queue.messages.append(message)
        return {
            "MessageId": message.message_id,
            "MD5OfMessageBody": hashlib.md5(MessageBody.encode()).hexdigest(),
        }

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        self._check_batch(Entries, "SendMessageBatch")
        successful = []
        for entry in Entries:
            answer = self.send_message(
                QueueUrl,
                entry["MessageBody"],
                entry.get("DelaySeconds", 0),
                entry.get("MessageAttributes"),
            )
            successful.append({"Id": entry["Id"], **answer})
        return {"Successful": successful, "Failed": []}

    def receive_message(
        self,
        QueueUrl: str,
        MaxNumberOfMessages: int = 1,
        VisibilityTimeout: int | None = None,
        WaitTimeSeconds: int = 0,
        MessageAttributeNames: list[str] = (),
        MessageSystemAttributeNames: list[str] = (),
        AttributeNames: list[str] = (),
    ) -> dict:
        """Up to `MaxNumberOfMessages` visible messages, in no promised order (long polling
        asks every server, so a visible message is never missed here)."""
        queue = self._queue(QueueUrl, "ReceiveMessage")
        now = self.clock.timestamp()
        visible = [m for m in queue.messages if m.visible_at <= now]
        if self.order == "any":
            self.rng.shuffle(visible)
        elif self.order == "newest first":
            visible.sort(key=lambda m: m.sent_at, reverse=True)
        out = []
        timeout = queue.visibility_timeout if VisibilityTimeout is None else VisibilityTimeout
        for message in visible:
            if len(out) >= MaxNumberOfMessages:
                break
            if queue.max_receive_count and message.receive_count >= queue.max_receive_count:
                self._redrive(queue, message)
                continue
            message.receive_count += 1
            message.first_received_at = message.first_received_at or now
            message.handle = f"{message.message_id}#{self.rng.getrandbits(64):016x}"
            message.visible_at = now + timeout
            out.append(self._answer(message, MessageSystemAttributeNames, AttributeNames))
        return {"Messages": out} if out else {}

    def _answer(self, message: QueuedMessage, system: list[str], legacy: list[str]) -> dict:
        answer: dict[str, Any] = {
            "MessageId": message.message_id,
            "ReceiptHandle": message.handle,
            "Body": message.body,
            "MD5OfBody": hashlib.md5(message.body.encode()).hexdigest(),
        }
        names = set(system) | set(legacy)
        if names:
            values = {
                "SentTimestamp": str(int(message.sent_at * 1000)),
                "ApproximateReceiveCount": str(message.receive_count),
                "ApproximateFirstReceiveTimestamp": str(int(message.first_received_at * 1000)),
            }
            keep = values if "All" in names else {k: v for k, v in values.items() if k in names}
            answer["Attributes"] = keep
        if message.attributes:
            answer["MessageAttributes"] = dict(message.attributes)
        return answer

    def _redrive(self, queue: FakeQueue, message: QueuedMessage) -> None:
        queue.messages.remove(message)
        target = next((q for q in self.queues.values() if q.arn == queue.dead_letter_arn), None)
        if target is not None:
            message.receive_count, message.handle = 0, None
            message.visible_at = self.clock.timestamp()
            target.messages.append(message)

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> dict:
        queue = self._queue(QueueUrl, "DeleteMessage")
        self._delete(queue, ReceiptHandle)
        return {}

    def _delete(self, queue: FakeQueue, handle: str) -> None:
        if "#" not in handle:  # not a handle this queue ever gave out
            raise client_error(
                "ReceiptHandleIsInvalid", "The input receipt handle is invalid.", "DeleteMessage"
            )
        for message in queue.messages:
            if message.handle == handle:
                queue.messages.remove(message)
                return
        # a stale handle (received again since) or a message already gone: success, no effect

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        self._check_batch(Entries, "DeleteMessageBatch")
        queue = self._queue(QueueUrl, "DeleteMessageBatch")
        for entry in Entries:
            self._delete(queue, entry["ReceiptHandle"])
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def change_message_visibility(
        self, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int
    ) -> dict:
        queue = self._queue(QueueUrl, "ChangeMessageVisibility")
        for message in queue.messages:
            if message.handle == ReceiptHandle:
                message.visible_at = self.clock.timestamp() + VisibilityTimeout
                return {}
        raise client_error(
            "ReceiptHandleIsInvalid",
            "The input receipt handle is invalid.",
            "ChangeMessageVisibility",
        )

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        self._check_batch(Entries, "ChangeMessageVisibilityBatch")
        for entry in Entries:
            self.change_message_visibility(
                QueueUrl, entry["ReceiptHandle"], entry["VisibilityTimeout"]
            )
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def move_messages(self, source_url: str, destination_url: str) -> int:
        """StartMessageMoveTask from a DLQ back to its source: each message is sent anew."""
        source = self._queue(source_url, "StartMessageMoveTask")
        moved = list(source.messages)
        source.messages = []
        for message in moved:
            self.send_message(destination_url, message.body, 0, message.attributes)
        return len(moved)

    @staticmethod
    def _check_batch(entries: list[dict], operation: str) -> None:
        if not entries:
            raise client_error("AWS.SimpleQueueService.EmptyBatchRequest", "no entries", operation)
        if len(entries) > MAX_BATCH:
            raise client_error(
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                f"Maximum number of entries per request are {MAX_BATCH}.",
                operation,
            )
        ids = [e["Id"] for e in entries]
        if len(set(ids)) != len(ids):
            raise client_error(
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id repeated", operation
            )

    # For the simulation's checks

    def bodies(self, url: str) -> list[str]:
        return [m.body for m in self._queue(url, "peek").messages]
