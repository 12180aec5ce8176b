"""What an alert and its "resolved" message say, per subscriber protocol.

Pure. One Publish carries a text for people (email, and SNS's default) and JSON for machines
(SQS, HTTPS chat relays), by `MessageStructure=json`:
https://docs.aws.amazon.com/sns/latest/dg/sns-send-custom-platform-specific-payloads-mobile-devices.html
The message attributes `condition`, `severity` and `status` are what subscription filter
policies match on; `alert_id` names the alert in both of its messages.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ngs_lake.alerts.conditions import Alert
from ngs_lake.runs.model import utc_iso

SCHEMA = "ngs-lake/alert/v1"
STATUS_ALERT = "alert"
STATUS_RESOLVED = "resolved"
MAX_SUBJECT = 99  # SNS: an email Subject is under 100 ASCII characters, without line breaks


def message_body(alert: Alert, status: str, lake: str, resolved_at: datetime | None) -> dict:
    body: dict[str, Any] = {
        "schema": SCHEMA,
        "alert_id": alert.alert_id,
        "status": status,
        "lake": lake,
        "condition": alert.condition,
        "severity": alert.severity,
        "subject": alert.subject,
        "summary": alert.summary,
        "began_at": utc_iso(alert.began_at),
        "command": alert.command,
    }
    if resolved_at is not None:
        body["resolved_at"] = utc_iso(resolved_at)
    return body


def message_text(body: dict) -> str:
    lines = [
        f"{'RESOLVED' if body['status'] == STATUS_RESOLVED else body['severity'].upper()}: "
        f"{body['condition']} on {body['subject']}",
        body["summary"],
        f"began at {body['began_at']}",
    ]
    if "resolved_at" in body:
        lines.append(f"resolved at {body['resolved_at']}")
    lines += [f"look closer: {body['command']}", f"lake {body['lake']}, alert {body['alert_id']}"]
    return "\n".join(lines)


def email_subject(body: dict) -> str:
    word = "resolved" if body["status"] == STATUS_RESOLVED else body["severity"]
    text = f"[{body['lake']}] {word}: {body['condition']} {body['subject']}"
    text = text.encode("ascii", "replace").decode().replace("\n", " ").replace("\r", " ")
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 3] + "..."


def publish_request(
    topic_arn: str, alert: Alert, status: str, lake: str, resolved_at: datetime | None = None
) -> dict[str, Any]:
    """The keyword arguments of one SNS Publish of the alert or its resolution."""
    body = message_body(alert, status, lake, resolved_at)
    machine = json.dumps(body, sort_keys=True)
    text = message_text(body)
    return {
        "TopicArn": topic_arn,
        "Subject": email_subject(body),
        "MessageStructure": "json",
        "Message": json.dumps({"default": text, "email": text, "sqs": machine, "https": machine}),
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": body[name]}
            for name in ("condition", "severity", "status", "alert_id")
        },
    }
