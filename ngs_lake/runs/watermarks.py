"""Per-gateway event-time watermarks: the clock a run's silence is judged by.

A run is stalled when its last activity is a stall window behind the newest event the lake has
taken in from its gateway, never behind the wall clock: events can reach the lake hours late
(the daemon was down, a DLQ redrive), and a gateway that cannot reach AWS sends nothing while
its sequencers go on writing. When a gateway's events stop, its watermark stops too, so none of
its runs stalls; after `lake.gateway_silence` the gateway is reported silent, once.

A watermark never runs ahead of the lake's clock by more than CLOCK_TOLERANCE: EventBridge
accepts any `time`, so a gateway whose clock jumps ahead would otherwise put every run on it a
stall window behind at once. Its runs then stall late by at most the skew, never falsely.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.names import LakeNames
from ngs_lake.runs.model import parse_iso, utc_iso

log = logging.getLogger(__name__)

# A gateway clock this far ahead of AWS's could not even sign its calls: SigV4 refuses a request
# more than 5 minutes from the service's time (RequestTimeTooSkewed).
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html
CLOCK_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Watermark:
    gateway_id: str
    event_time: datetime  # the newest event time taken in from the gateway
    received_at: datetime  # when the lake last took in one of its events (wall clock)
    silent_since: datetime | None = None  # set while the gateway is reported silent


class GatewayWatermarks:
    """The `<prefix>-gateways` table: one item per gateway, each field moving forward only."""

    def __init__(self, clients: AwsClients, names: LakeNames) -> None:
        self.ddb = clients.dynamodb()
        self.table = names.gateways_table

    def advance(self, newest: dict[str, datetime], received_at: datetime) -> None:
        """The tick took in events up to `newest[gateway]` (bounded by `received_at` plus
        CLOCK_TOLERANCE); a gateway heard again is no longer silent."""
        for gateway_id, newest_time in newest.items():
            event_time = min(newest_time, received_at + CLOCK_TOLERANCE)
            try:
                self.ddb.update_item(
                    TableName=self.table,
                    Key={"gateway_id": {"S": gateway_id}},
                    UpdateExpression="SET event_time = :t, received_at = :r REMOVE silent_since",
                    ConditionExpression="attribute_not_exists(event_time) OR event_time < :t",
                    ExpressionAttributeValues={
                        ":t": {"S": utc_iso(event_time)},
                        ":r": {"S": utc_iso(received_at)},
                    },
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                self._heard(gateway_id, received_at)  # an older event: heard, not newer

    def _heard(self, gateway_id: str, received_at: datetime) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key={"gateway_id": {"S": gateway_id}},
            UpdateExpression="SET received_at = :r REMOVE silent_since",
            ExpressionAttributeValues={":r": {"S": utc_iso(received_at)}},
        )

    def all(self) -> dict[str, Watermark]:
        out = {}
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.table):
            for item in page["Items"]:
                since = item.get("silent_since", {}).get("S")
                out[item["gateway_id"]["S"]] = Watermark(
                    item["gateway_id"]["S"],
                    parse_iso(item["event_time"]["S"]),
                    parse_iso(item["received_at"]["S"]),
                    parse_iso(since) if since else None,
                )
        return out

    def report_silent(self, watermark: Watermark, now: datetime) -> bool:
        """Mark the gateway silent; True only for the tick that does so (the condition is
        raised once, however many sensors and ticks see it)."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"gateway_id": {"S": watermark.gateway_id}},
                UpdateExpression="SET silent_since = :now",
                ConditionExpression="attribute_not_exists(silent_since) AND received_at = :r",
                ExpressionAttributeValues={
                    ":now": {"S": utc_iso(now)},
                    ":r": {"S": utc_iso(watermark.received_at)},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        log.warning(
            "gateway %s silent: no event since %s (events up to %s)",
            watermark.gateway_id,
            utc_iso(watermark.received_at),
            utc_iso(watermark.event_time),
        )
        return True
