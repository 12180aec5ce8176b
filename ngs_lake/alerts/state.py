"""The alert state: one item per (condition, subject) in `<prefix>-alerts`, so that a restart, or
two sensors at once, neither repeats nor forgets an alert.

Each send is claimed, published, then marked. The claim is a conditional write (OPENING or
RESOLVING with a claim token); only the writer whose claim succeeded publishes; the mark is
conditional on the same token. The operations topic is a standard topic, which has no
deduplication (only FIFO topics do:
https://docs.aws.amazon.com/sns/latest/dg/fifo-message-dedup.html), so a crash between the
Publish and the mark can only be healed by publishing again: a claim older than `CLAIM_LEASE`
is taken over and its message sent again, under the same `alert_id`. We chose that over
marking before publishing, which would lose the alert on the same crash: an operator can ignore
a repeated alert_id, but not one that never came.

Resolved items expire (DynamoDB TTL, `expires_at`) after `RESOLVED_KEPT`, which bounds the
table; the samples of each gateway's upload backlog live in the same table under the
partition `trend#upload_backlog`, one item per gateway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ngs_lake.alerts.conditions import Alert, BacklogTrend
from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.names import LakeNames
from ngs_lake.runs.model import parse_iso, utc_iso

OPENING, OPEN, RESOLVING, RESOLVED = "OPENING", "OPEN", "RESOLVING", "RESOLVED"
CLAIM_LEASE = timedelta(seconds=120)  # longer than a sensor tick's 60 s budget
RESOLVED_KEPT = timedelta(days=30)
TTL_ATTRIBUTE = "expires_at"
TREND_PARTITION = "trend#upload_backlog"
RELEASED = "1970-01-01T00:00:00.000000Z"  # a claim's time once released: its lease is over


@dataclass(frozen=True)
class AlertRecord:
    alert: Alert
    status: str
    claim: str | None
    claimed_at: datetime | None
    opened_at: datetime | None
    resolved_at: datetime | None

    @property
    def pending(self) -> bool:
        """Claimed for a send that has not been marked done."""
        return self.status in (OPENING, RESOLVING)


def _record(item: dict[str, Any]) -> AlertRecord:
    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    def moment(name: str) -> datetime | None:
        value = text(name)
        return parse_iso(value) if value else None

    alert = Alert(
        item["condition"]["S"],
        item["subject"]["S"],
        parse_iso(item["began_at"]["S"]),
        item["severity"]["S"],
        item["summary"]["S"],
        item["command"]["S"],
    )
    return AlertRecord(
        alert,
        item["status"]["S"],
        text("claim"),
        moment("claimed_at"),
        moment("opened_at"),
        moment("resolved_at"),
    )


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


class AlertState:
    def __init__(self, clients: AwsClients, names: LakeNames) -> None:
        self.ddb = clients.dynamodb()
        self.table = names.alerts_table

    def records(self) -> list[AlertRecord]:
        """Every alert still kept (open, pending, or resolved within `RESOLVED_KEPT`)."""
        out = []
        for page in self.ddb.get_paginator("scan").paginate(
            TableName=self.table,
            ConsistentRead=True,
            FilterExpression="NOT begins_with(#c, :trend)",
            ExpressionAttributeNames={"#c": "condition"},
            ExpressionAttributeValues={":trend": {"S": "trend#"}},
        ):
            out += [_record(item) for item in page["Items"]]
        return out

    def claim_open(self, alert: Alert, now: datetime) -> str | None:
        """Record a new alert as OPENING; its claim token, or None when the pair is already
        alerted (open, or being sent or resolved by another tick)."""
        token = uuid.uuid4().hex
        item = {
            "condition": {"S": alert.condition},
            "subject": {"S": alert.subject},
            "status": {"S": OPENING},
            "began_at": {"S": utc_iso(alert.began_at)},
            "severity": {"S": alert.severity},
            "summary": {"S": alert.summary},
            "command": {"S": alert.command},
            "claim": {"S": token},
            "claimed_at": {"S": utc_iso(now)},
        }
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(#s) OR #s = :resolved",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":resolved": {"S": RESOLVED}},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise
        return token

    def claim_resolve(
        self, record: AlertRecord, now: datetime, resolved_at: datetime | None = None
    ) -> str | None:
        """Move an OPEN alert to RESOLVING, claimed at `now`, resolved at `resolved_at` (when
        the pass judged it cleared; default `now`); its token, or None if another tick did."""
        return self._update_claim(
            record,
            "SET #s = :resolving, claim = :claim, claimed_at = :now, resolved_at = :resolved",
            "#s = :open",
            {
                ":resolving": {"S": RESOLVING},
                ":open": {"S": OPEN},
                ":resolved": {"S": utc_iso(resolved_at or now)},
            },
            now,
        )

    def take_over(self, record: AlertRecord, now: datetime) -> str | None:
        """Take over a send whose claim outlived `CLAIM_LEASE` (its sender died between the
        claim and the mark); None while the lease holds or when another tick took it first."""
        if record.claimed_at is not None and now - record.claimed_at < CLAIM_LEASE:
            return None
        return self._update_claim(
            record,
            "SET claim = :claim, claimed_at = :now",
            "#s = :status AND claim = :old",
            {":status": {"S": record.status}, ":old": {"S": record.claim or ""}},
            now,
        )

    def _update_claim(
        self,
        record: AlertRecord,
        update: str,
        condition: str,
        values: dict[str, Any],
        now: datetime,
    ) -> str | None:
        token = uuid.uuid4().hex
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=self._key(record.alert),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    **values,
                    ":claim": {"S": token},
                    ":now": {"S": utc_iso(now)},
                },
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise
        return token

    def release(self, alert: Alert, token: str) -> None:
        """Give up a claim whose Publish failed: the next tick takes it over at once."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=self._key(alert),
                UpdateExpression="SET claimed_at = :never",
                ConditionExpression="claim = :token",
                ExpressionAttributeValues={":never": {"S": RELEASED}, ":token": {"S": token}},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def mark_sent(self, alert: Alert, status: str, token: str, now: datetime) -> None:
        """The send claimed by `token` is published: OPENING -> OPEN, RESOLVING -> RESOLVED."""
        done = OPEN if status == OPENING else RESOLVED
        values: dict[str, Any] = {":done": {"S": done}, ":token": {"S": token}}
        if done == OPEN:
            update = "SET #s = :done, opened_at = :now REMOVE claim, claimed_at"
            values[":now"] = {"S": utc_iso(now)}
        else:
            update = "SET #s = :done, expires_at = :expires REMOVE claim, claimed_at"
            values[":expires"] = {"N": str(int((now + RESOLVED_KEPT).timestamp()))}
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=self._key(alert),
                UpdateExpression=update,
                ConditionExpression="claim = :token",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            # Taken over after our lease ran out: the taker sends and marks it.

    @staticmethod
    def _key(alert: Alert) -> dict[str, Any]:
        return {"condition": {"S": alert.condition}, "subject": {"S": alert.subject}}

    def trends(self) -> dict[str, BacklogTrend]:
        out = {}
        for page in self.ddb.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="#c = :p",
            ExpressionAttributeNames={"#c": "condition"},
            ExpressionAttributeValues={":p": {"S": TREND_PARTITION}},
            ConsistentRead=True,
        ):
            for item in page["Items"]:
                gateway_id = item["subject"]["S"]
                out[gateway_id] = BacklogTrend(
                    gateway_id,
                    parse_iso(item["since"]["S"]),
                    int(item["since_bytes"]["N"]),
                    int(item["last_bytes"]["N"]),
                )
        return out

    def save_trend(self, trend: BacklogTrend, now: datetime) -> None:
        """A plain put: two sensors sampling at once agree within a tick, and the later wins."""
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "condition": {"S": TREND_PARTITION},
                "subject": {"S": trend.gateway_id},
                "since": {"S": utc_iso(trend.since)},
                "since_bytes": {"N": str(trend.since_bytes)},
                "last_bytes": {"N": str(trend.last_bytes)},
                "sampled_at": {"S": utc_iso(now)},
            },
        )
