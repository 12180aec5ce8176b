"""Where the alert conditions are read: the run ledger, the gateways' watermarks, the dead-letter
queues, the gateways' caches (and the backlog samples kept in the alert state).

Fail closed: a source that cannot be read judges none of its conditions this tick, so its open
alerts stay open rather than being resolved by a read that failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ngs_lake.alerts.conditions import (
    CONFIG_INVALID,
    DLQ_MESSAGE_OLD,
    FOLDER_UNRECOGNISED,
    GATEWAY_BUFFER_LOW,
    GATEWAY_SILENT,
    GATEWAY_UNKNOWN,
    INVENTORY_AUDIT_FAILED,
    RUN_CONDITIONS,
    UPLOAD_BACKLOG_GROWING,
    UPLOAD_UNCONFIRMED,
    Alert,
    AuditCheck,
    DocumentCheck,
    audit_findings,
    backlog_findings,
    buffer_findings,
    config_invalid_findings,
    dlq_findings,
    next_trend,
    run_findings,
    silent_gateway_findings,
    unconfirmed_upload_findings,
    unknown_gateway_findings,
    unrecognised_folder_findings,
)
from ngs_lake.alerts.fixity_conditions import FIXITY_MISMATCH, fixity_findings
from ngs_lake.alerts.sheet_conditions import (
    COMPLETED_WATCHED,
    SAMPLESHEET_UNREADABLE,
    WATCHED_STATES,
    samplesheet_findings,
)
from ngs_lake.alerts.state import AlertState
from ngs_lake.aws.clients import AwsClients
from ngs_lake.aws.storage_gateway import cache_backlog
from ngs_lake.capacity.figures import gateway_capacity
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames, event_shards
from ngs_lake.fixity.evidence import OpenMismatches
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.lifecycle import MAX_NOTIFY_REQUESTS
from ngs_lake.runs.model import RunState, utc_iso
from ngs_lake.runs.unrecognised_ledger import UnrecognisedFolders
from ngs_lake.runs.watermarks import GatewayWatermarks, drained_from

log = logging.getLogger(__name__)

PEEK_LIMIT = 100  # parked messages looked at per DLQ and tick; one old one is enough to alert
PEEK_HOLD_SECONDS = 10  # how long a peeked message stays hidden if we die before releasing it
UNREADABLE = (ClientError, BotoCoreError)


@dataclass
class Evaluation:
    """The alerts that hold now, and the conditions that were judged (only those resolve)."""

    alerts: list[Alert] = field(default_factory=list)
    judged: set[str] = field(default_factory=set)
    unreadable: list[str] = field(default_factory=list)  # "<source>: <error>", for the tick log
    # (condition, subject) left unjudged inside a judged condition (a gateway whose cache
    # could not be read): their open alerts stay open
    unjudged: set[tuple[str, str]] = field(default_factory=set)

    def add(
        self, conditions: set[str], alerts: list[Alert], unknown: dict[str, str] | None = None
    ) -> None:
        """`unknown`: subject -> why its conditions among `conditions` were not judged."""
        self.judged |= conditions
        self.alerts += alerts
        for subject, why in (unknown or {}).items():
            self.unjudged |= {(condition, subject) for condition in conditions}
            self.unreadable.append(why)


def evaluate(
    clients: AwsClients,
    config: LakeConfig,
    state: AlertState,
    now: datetime,
    audits: list[AuditCheck] | None = None,
    document: DocumentCheck | None = None,
) -> Evaluation:
    """Every condition whose source answers; `audits` None: the inventory checks are not read
    here (the Dagster sensor passes them in from its instance); `document` None: the config
    file is not judged (the caller loaded it, so passes what it found)."""
    names = LakeNames.of(config)
    evaluation = Evaluation()
    sources = (
        ("run ledger", lambda: _runs(clients, names, config, now)),
        ("gateway watermarks", lambda: _silence(clients, names, config, now)),
        ("dead-letter queues", lambda: _dead_letters(clients, config, now)),
        ("gateway caches", lambda: _caches(clients, config, state, now)),
        ("unrecognised folders", lambda: _unrecognised(clients, names, config)),
        ("fixity audit", lambda: _fixity(clients, config)),
    )
    for label, read in sources:
        try:
            evaluation.add(*read())
        except UNREADABLE as exc:
            log.warning("alerts: %s unreadable, its alerts stay as they are: %s", label, exc)
            evaluation.unreadable.append(f"{label}: {exc}")
    if audits is not None:
        evaluation.add({INVENTORY_AUDIT_FAILED}, audit_findings(audits))
    if document is not None:
        evaluation.add({CONFIG_INVALID}, config_invalid_findings(document))
    return evaluation


def _runs(
    clients: AwsClients, names: LakeNames, config: LakeConfig, now: datetime
) -> tuple[set[str], list[Alert]]:
    ledger = RunLedger(clients, names)
    runs = [run for state in RUN_CONDITIONS for run in ledger.runs_in_state(state)]
    waiting = ledger.runs_in_state(RunState.MARKER_SEEN)
    window = config.lake.upload_confirmation_window
    unconfirmed = unconfirmed_upload_findings(waiting, window, MAX_NOTIFY_REQUESTS, now)
    # Issue #31: the sheets of these runs and of the rest of the watched ones.
    since = utc_iso(now - COMPLETED_WATCHED)
    others = [
        r
        for s in WATCHED_STATES
        if s not in RUN_CONDITIONS and s != RunState.MARKER_SEEN
        for r in ledger.runs_in_state(s)
    ]
    others += ledger.runs_in_state(RunState.COMPLETED, active_since=since)
    sheets = samplesheet_findings([*runs, *waiting, *others], now)
    conditions = set(RUN_CONDITIONS.values()) | {UPLOAD_UNCONFIRMED, SAMPLESHEET_UNREADABLE}
    return conditions, run_findings(runs) + unconfirmed + sheets


def _fixity(clients: AwsClients, config: LakeConfig) -> tuple[set[str], list[Alert]]:
    found = OpenMismatches(clients.s3(), config.lake.catalog_bucket).read()
    return {FIXITY_MISMATCH}, fixity_findings(found)


def _unrecognised(
    clients: AwsClients, names: LakeNames, config: LakeConfig
) -> tuple[set[str], list[Alert]]:
    """Settled on a drained queue, not on the pass's clock (runs/unrecognised.py): after an
    outage the pass runs before the ticks have taken in the backlog that holds the runs."""
    drained = drained_from(clients, names, config)
    folders = UnrecognisedFolders(clients, names).unrecognised(drained, prune=True)
    return {FOLDER_UNRECOGNISED}, unrecognised_folder_findings(folders)


def _silence(
    clients: AwsClients, names: LakeNames, config: LakeConfig, now: datetime
) -> tuple[set[str], list[Alert]]:
    heard = {g: w.received_at for g, w in GatewayWatermarks(clients, names).all().items()}
    gateway_ids = [g.id for g in config.gateways]
    alerts = silent_gateway_findings(heard, gateway_ids, config.lake.gateway_silence, now)
    return {GATEWAY_SILENT}, alerts


def _dead_letters(
    clients: AwsClients, config: LakeConfig, now: datetime
) -> tuple[set[str], list[Alert], dict[str, str]]:
    """The peek is a sample, judged as one: an old message seen alerts; "none old" is a fact
    only when the DLQ was read whole (the peek ended on an empty receive under its limit, with
    nothing held hidden by another reader: an operator's `dlq list`, the peek of a tick that
    died). Otherwise that queue is unknown: its open alert is neither resolved nor sent again.
    A standard queue keeps a message's enqueue timestamp when it moves to the DLQ, so an old
    event parked late sits behind newer ones; CloudWatch's ApproximateAgeOfOldestMessage is no
    substitute, as for a DLQ it counts from the move, not the send:
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/setting-up-dead-letter-queue-retention.html"""
    sqs = clients.sqs()
    sent, unread = {}, {}
    for shard in event_shards(config):
        queue = shard.dead_letter_queue
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        counts = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        sample = parked_sent_times(sqs, url)
        sent[queue] = sample.sent
        hidden = int(counts.get("ApproximateNumberOfMessagesNotVisible", "0"))
        if hidden or not sample.whole:
            unread[queue] = (
                f"dead-letter queues: {queue} read in part ({len(sample.sent)} of about "
                f"{int(counts.get('ApproximateNumberOfMessages', '0')) + hidden} parked, "
                f"{hidden} held by another reader): {DLQ_MESSAGE_OLD} not judged unless seen"
            )
    alerts = dlq_findings(sent, config.alerts.dlq_message_age, now)
    alerted = {a.subject for a in alerts}
    return {DLQ_MESSAGE_OLD}, alerts, {q: why for q, why in unread.items() if q not in alerted}


@dataclass(frozen=True)
class ParkedSample:
    """The parked messages' send times a peek saw; `whole`: it saw every one."""

    sent: list[datetime]
    whole: bool


def parked_sent_times(sqs: Any, url: str, limit: int = PEEK_LIMIT) -> ParkedSample:
    """When each parked message was sent (its SentTimestamp), without consuming any.

    CloudWatch's ApproximateAgeOfOldestMessage would not do (for a DLQ it counts from the move;
    see `_dead_letters`), and the local stand-in lacks it, so we peek: receive, holding each
    message hidden briefly so the next receive returns others, then make them all visible
    again (ChangeMessageVisibility to 0 releases a message at once:
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html).
    Each receive long-polls (WaitTimeSeconds > 0 asks every server; a short poll asks a sample
    and can miss a small queue's messages):
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html
    A peek counts as a receive, which matters only on a queue with a redrive policy; the DLQ
    has none.
    A ReceiveMessage returns at most 10 messages, so a peek of `limit` is a sample of a longer
    queue (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html).
    It is whole only when a long-polled receive came back empty while every message seen was
    still held: nothing visible was left unseen.
    """
    held: dict[str, dict[str, Any]] = {}
    whole = False
    try:
        while len(held) < limit:
            batch = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=PEEK_HOLD_SECONDS,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["SentTimestamp"],
            ).get("Messages", [])
            fresh = [m for m in batch if m["MessageId"] not in held]
            if not batch:
                whole = True
            if not fresh:  # empty, or only messages whose hold ran out: seen already
                break
            held |= {m["MessageId"]: m for m in fresh}
    finally:
        messages = list(held.values())
        for start in range(0, len(messages), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(messages[start : start + 10])
                ],
            )
    sent = [
        datetime.fromtimestamp(int(m["Attributes"]["SentTimestamp"]) / 1000, UTC)
        for m in held.values()
    ]
    return ParkedSample(sent, whole)


def _caches(
    clients: AwsClients, config: LakeConfig, state: AlertState, now: datetime
) -> tuple[set[str], list[Alert], dict[str, str]]:
    """DescribeCache per gateway: the live buffer, and the backlog trend sampled into the alert
    state (AWS reports the dirty cache per gateway; a per-share figure is a CloudWatch metric
    only, so the trend is per gateway, which covers its shares). Gateways are found by their
    configured `arn`, else by name; one the API does not list, or whose DescribeCache fails,
    is unknown: alerted (`gateway_unknown`), its buffer and backlog alerts neither opened nor
    resolved, and the others judged."""
    known = {g.id: g.arn for g in config.gateways}
    problems: list[str] = []
    caches = {
        b.gateway_id: (b.cache_bytes, b.dirty_bytes)
        for b in cache_backlog(clients.storagegateway(), None, known, problems)
        if b.gateway_id in known
    }
    unknown = {
        g: next(
            (f"gateway caches: {p}" for p in problems if p.startswith(f"gateway {g}: ")),
            f"gateway caches: gateway {g} is not listed by the Storage Gateway API "
            "(matched by its configured arn, else by its name)",
        )
        for g in known
        if g not in caches
    }
    previous = state.trends()
    trends = []
    for gateway_id, (_, dirty) in sorted(caches.items()):
        trend = next_trend(previous.get(gateway_id), gateway_id, dirty, now)
        if trend != previous.get(gateway_id):
            state.save_trend(trend, now)
        trends.append(trend)
    alerts = buffer_findings(gateway_capacity(config), caches, now)
    alerts += backlog_findings(trends, config.alerts.backlog_growth_window, now)
    alerts += unknown_gateway_findings(
        {g: why.removeprefix("gateway caches: ") for g, why in unknown.items()}, now
    )
    return {GATEWAY_BUFFER_LOW, UPLOAD_BACKLOG_GROWING, GATEWAY_UNKNOWN}, alerts, unknown
