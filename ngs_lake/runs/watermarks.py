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
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames, event_shards
from ngs_lake.runs.clock import SYSTEM_CLOCK, Clock
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
                if "event_time" not in item:  # a queue's drain mark (QueueDrains)
                    continue
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


class QueueDrains:
    """Whether messages a tick that died had received may still be hidden in its queue.

    SQS hides a received message for the queue's visibility timeout, so after a tick dies an
    empty receive does not mean the queue is drained: what it held comes back later, maybe the
    only events of a live run. Each drain marks its queue open (`open_since`, an item of the
    gateways table keyed `queue#<name>`) when it starts and closed when it ends; a drain that
    finds the mark still open knows the last one died, and no silence is judged until that
    one's messages can have come back (`hidden_until`). A drain that ended drained records when
    it started (`drained_from`): every event sent to the queue before then has been taken in
    (issue #34: what settles a share's unrecognised folders; `drained_from`).
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html
    """

    def __init__(
        self,
        clients: AwsClients,
        names: LakeNames,
        queue: str,
        hidden_for: timedelta,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """`hidden_for`: from a drain's start, the longest its messages can stay hidden (its
        budget and last long poll, plus the visibility timeout)."""
        self.ddb = clients.dynamodb()
        self.table = names.gateways_table
        self.key = {"gateway_id": {"S": f"queue#{queue}"}}
        self.hidden_for = hidden_for
        self.clock = clock
        self.hidden_until: datetime | None = None
        self.opened_at: datetime | None = None

    def open(self) -> None:
        self.opened_at = self.clock.now()
        old = self.ddb.update_item(
            TableName=self.table,
            Key=self.key,
            UpdateExpression="SET open_since = :now",
            ExpressionAttributeValues={":now": {"S": utc_iso(self.opened_at)}},
            ReturnValues="ALL_OLD",
        ).get("Attributes", {})
        until = old.get("hidden_until", {}).get("S")
        self.hidden_until = parse_iso(until) if until else None
        if "open_since" not in old:
            return
        died = parse_iso(old["open_since"]["S"]) + self.hidden_for
        if self.hidden_until is None or died > self.hidden_until:
            log.warning(
                "the last drain of %s did not finish: silence waits until %s",
                self.key["gateway_id"]["S"],
                utc_iso(died),
            )
            self.hidden_until = died
            self.ddb.update_item(
                TableName=self.table,
                Key=self.key,
                UpdateExpression="SET hidden_until = :u",
                ExpressionAttributeValues={":u": {"S": utc_iso(died)}},
            )

    def close(self, drained: bool = False) -> None:
        """The drain ended; `drained`: on an empty receive, with nothing still hidden."""
        if not drained or self.opened_at is None:
            self.ddb.update_item(
                TableName=self.table, Key=self.key, UpdateExpression="REMOVE open_since"
            )
            return
        self.ddb.update_item(
            TableName=self.table,
            Key=self.key,
            UpdateExpression="SET drained_from = :o REMOVE open_since",
            ExpressionAttributeValues={":o": {"S": utc_iso(self.opened_at)}},
        )

    def settled(self) -> bool:
        """No message of a drain that died can still be hidden."""
        return self.hidden_until is None or self.clock.now() >= self.hidden_until


def drained_from(clients: AwsClients, names: LakeNames, config: LakeConfig) -> dict[str, datetime]:
    """Per sequencer: the start of the last drain of its events queue that ended drained (none:
    not drained since the lake began keeping it)."""
    marks: dict[str, datetime] = {}
    for page in clients.dynamodb().get_paginator("scan").paginate(TableName=names.gateways_table):
        for item in page["Items"]:
            if "drained_from" in item:
                marks[item["gateway_id"]["S"]] = parse_iso(item["drained_from"]["S"])
    return {
        sequencer: marks[f"queue#{shard.queue}"]
        for shard in event_shards(config)
        if f"queue#{shard.queue}" in marks
        for sequencer in shard.sequencer_ids(config)
    }
