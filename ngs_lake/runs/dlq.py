"""The dead-letter queue, for operators: see what was parked and why, and replay it after a fix.

The sensor parks each rejected message with its reason as a message attribute; SQS's own redrive
(after 5 receives) is the last net and carries no reason, which `list` shows as such. The same
queue is the EventBridge rule target's dead-letter queue: an event EventBridge could not deliver
to the events queue arrives with ERROR_CODE and ERROR_MESSAGE attributes, shown as its reason,
and a redrive hands it to the events queue as EventBridge would have:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html

Every receive long-polls (WaitTimeSeconds=20) and the listing ends after one empty long poll. A
short poll (WaitTimeSeconds=0) asks only a sample of SQS's servers, so it can answer empty while
messages wait elsewhere, and a small DLQ would list as empty; a long poll asks all of them and
returns as soon as a message is there:
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html
The local stand-in (moto) answers from every message either way, so only AWS shows the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LIST_LIMIT = 1000
LONG_POLL_SECONDS = 20  # SQS's maximum WaitTimeSeconds


@dataclass(frozen=True)
class ParkedMessage:
    message_id: str
    receipt_handle: str
    reason: str
    rejected_at: str | None
    body: str


def _parked(message: dict[str, Any]) -> ParkedMessage:
    attributes = message.get("MessageAttributes", {})
    return ParkedMessage(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        reason=attributes.get("reason", {}).get("StringValue")
        or _undelivered(attributes)
        or "(no reason: moved by SQS redrive after repeated failures)",
        rejected_at=attributes.get("rejected_at", {}).get("StringValue"),
        body=message["Body"],
    )


def _undelivered(attributes: dict[str, Any]) -> str | None:
    """The reason of an EventBridge dead letter, from the attributes EventBridge adds."""
    code = attributes.get("ERROR_CODE", {}).get("StringValue")
    if code is None:
        return None
    message = attributes.get("ERROR_MESSAGE", {}).get("StringValue") or ""
    return f"EventBridge could not deliver it to the events queue: {code} {message}".rstrip()


def _hold_all(sqs: Any, dlq_url: str, limit: int, wait_seconds: int) -> list[ParkedMessage]:
    """Receive every parked message, holding each invisible while we look at it, until a long
    poll of `wait_seconds` finds nothing new."""
    held: dict[str, ParkedMessage] = {}
    while len(held) < limit:
        batch = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=120,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in held]
        if not fresh:
            break
        for message in fresh:
            held[message["MessageId"]] = _parked(message)
    return list(held.values())


def list_parked(
    sqs: Any, dlq_url: str, limit: int = LIST_LIMIT, wait_seconds: int = LONG_POLL_SECONDS
) -> list[ParkedMessage]:
    """Peek at parked messages without consuming them (each stays in the DLQ)."""
    held = _hold_all(sqs, dlq_url, limit, wait_seconds)
    _release(sqs, dlq_url, held)
    return held


def redrive(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    reason: str | None = None,
    wait_seconds: int = LONG_POLL_SECONDS,
) -> int:
    """Send parked messages (those whose reason contains `reason`) back to the events queue."""
    moved = 0
    keep = []
    for message in _hold_all(sqs, dlq_url, LIST_LIMIT, wait_seconds):
        if reason is None or reason in message.reason:
            sqs.send_message(QueueUrl=queue_url, MessageBody=message.body)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message.receipt_handle)
            moved += 1
        else:
            keep.append(message)
    _release(sqs, dlq_url, keep)
    return moved


def _release(sqs: Any, dlq_url: str, messages: list[ParkedMessage]) -> None:
    for message in messages:
        sqs.change_message_visibility(
            QueueUrl=dlq_url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=0
        )
