"""The lake at a glance for an operator: queues, gateway backlog, runs by state, stalled runs and
the latest notifications. `ngs-lake status` prints it; `make run` shows it live.

Every figure is read without side effects: queue depths from GetQueueAttributes (never a peek,
which would count as a receive towards the dead-letter limit), the oldest message's age from
CloudWatch's ApproximateAgeOfOldestMessage where the endpoint has it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ngs_lake.aws.clients import AwsClients
from ngs_lake.aws.storage_gateway import CacheBacklog, cache_backlog
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames, event_shards
from ngs_lake.config.units import format_size
from ngs_lake.operations.run_views import ago, elapsed
from ngs_lake.runs.dynamo_items import from_item
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.model import RunState, utc_iso
from ngs_lake.runs.unrecognised import UnrecognisedFolder
from ngs_lake.runs.unrecognised_ledger import UnrecognisedFolders
from ngs_lake.runs.watermarks import drained_from


@dataclass(frozen=True)
class QueueFigures:
    name: str
    visible: int
    in_flight: int
    oldest_age_seconds: float | None  # None: not reported by this endpoint


@dataclass(frozen=True)
class Notification:
    message_id: str
    published_at: str | None  # None: recorded, not yet published
    recorded_at: str


@dataclass(frozen=True)
class EventQueueFigures:
    """One event queue and its DLQ; `site` None for the lake-wide queue."""

    site: str | None
    queue: QueueFigures
    dead_letters: QueueFigures


@dataclass
class LakeStatus:
    taken_at: datetime
    event_queues: list[EventQueueFigures]
    gateways: list[CacheBacklog] | None  # None: the gateway API did not answer
    gateway_error: str | None
    runs_by_state: dict[str, int]
    stalled: list[dict[str, Any]] = field(default_factory=list)
    latest: list[Notification] = field(default_factory=list)
    # Share folders that match no run folder: settled ones, then those still settling.
    unrecognised: list[UnrecognisedFolder] = field(default_factory=list)
    settling: list[UnrecognisedFolder] = field(default_factory=list)
    unrecognised_error: str | None = None

    @property
    def events_waiting(self) -> int:
        return sum(q.queue.visible for q in self.event_queues)

    @property
    def dead_letter_count(self) -> int:
        return sum(q.dead_letters.visible + q.dead_letters.in_flight for q in self.event_queues)


def queue_figures(clients: AwsClients, name: str) -> QueueFigures:
    sqs = clients.sqs()
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return QueueFigures(
        name,
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        _oldest_age(clients, name),
    )


def _oldest_age(clients: AwsClients, name: str) -> float | None:
    now = datetime.now(UTC)
    try:
        points = clients.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": name}],
            StartTime=now - timedelta(minutes=15),
            EndTime=now,
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
    except Exception:  # a status line must not fail for want of one metric
        return None
    if not points:
        return None
    return float(max(points, key=lambda p: p["Timestamp"])["Maximum"])


def collect_status(clients: AwsClients, config: LakeConfig, latest: int = 5) -> LakeStatus:
    names = LakeNames.of(config)
    gateways: list[CacheBacklog] | None = None
    gateway_error = None
    try:
        gateways = cache_backlog(
            clients.storagegateway(),
            clients.target.storagegateway_endpoint_url,
            {g.id: g.arn for g in config.gateways},
        )
    except Exception as exc:  # shown, not raised: the rest of the status still helps
        gateway_error = str(exc)
    runs = _all_runs(clients, names)
    by_state = {s.value: 0 for s in RunState}
    for run in runs:
        by_state[run["state"]] = by_state.get(run["state"], 0) + 1
    notifications = _latest_notifications(RunLedger(clients, names), runs, latest)
    return LakeStatus(
        taken_at=datetime.now(UTC),
        event_queues=[
            EventQueueFigures(
                shard.site,
                queue_figures(clients, shard.queue),
                queue_figures(clients, shard.dead_letter_queue),
            )
            for shard in event_shards(config)
        ],
        gateways=gateways,
        gateway_error=gateway_error,
        runs_by_state=by_state,
        stalled=sorted(
            (r for r in runs if r["state"] == RunState.STALLED),
            key=lambda r: r.get("last_activity_at", ""),
        ),
        latest=notifications[:latest],
        **_unrecognised_folders(clients, names, config),
    )


def _unrecognised_folders(
    clients: AwsClients, names: LakeNames, config: LakeConfig
) -> dict[str, Any]:
    """Read only: a settled candidate with a run under it is left for the alert pass to drop.
    Settled on a drained queue, as the alert pass judges (runs/unrecognised.py)."""
    table = UnrecognisedFolders(clients, names)
    try:
        drained = drained_from(clients, names, config)
        candidates = table.all()
        settled = table.unrecognised(drained)
    except Exception as exc:  # shown, not raised: the rest of the status still helps
        return {"unrecognised_error": str(exc)}
    return {
        "unrecognised": settled,
        "settling": [f for f in candidates if not f.settled(drained.get(f.sequencer_id))],
    }


def _latest_notifications(
    ledger: RunLedger, runs: list[dict[str, Any]], latest: int
) -> list[Notification]:
    """The newest notifications are among those of the `latest` most recently active runs."""
    recent = sorted(runs, key=lambda r: r.get("last_activity_at", ""), reverse=True)[:latest]
    notifications = [
        Notification(
            entry.message_id,
            utc_iso(entry.published_at) if entry.published_at else None,
            utc_iso(entry.recorded_at),
        )
        for run in recent
        for entry in ledger.log.outbox(run["run_key"])
    ]
    notifications.sort(key=lambda n: n.published_at or n.recorded_at, reverse=True)
    return notifications


def _all_runs(clients: AwsClients, names: LakeNames) -> list[dict[str, Any]]:
    """Every run's key, state and activity (a projection: three small attributes a run)."""
    out = []
    paginator = clients.dynamodb().get_paginator("scan")
    for page in paginator.paginate(
        TableName=names.runs_table,
        ProjectionExpression="run_key, #s, last_activity_at",
        ExpressionAttributeNames={"#s": "state"},
    ):
        out += [from_item(i) for i in page["Items"]]
    return out


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return elapsed(seconds)


def _render_unrecognised(status: LakeStatus) -> list[str]:
    if status.unrecognised_error:
        return [f"unrecognised folders  unavailable: {status.unrecognised_error}"]
    if not (status.unrecognised or status.settling):
        return []
    lines = ["unrecognised folders (their files are in S3, but no run is made of them)"]
    for folder in status.unrecognised:
        lines.append(f"  {folder.subject}  since {ago(folder.first_seen)}: {folder.reason}")
    for folder in status.settling:
        seen = ago(folder.first_seen)
        lines.append(f"  {folder.subject}  settling (seen {seen}): {folder.reason}")
    return lines


def render_status(status: LakeStatus) -> str:
    lines = [f"ngs_lake status at {status.taken_at:%Y-%m-%d %H:%M:%S} UTC", ""]
    for figures in status.event_queues:
        q, d = figures.queue, figures.dead_letters
        label = "events queue" if figures.site is None else f"events {figures.site}"
        lines.append(
            f"{label:<14} {q.visible} waiting, {q.in_flight} in flight, "
            f"oldest {_age(q.oldest_age_seconds)}, dead letters {d.visible + d.in_flight}"
        )
    if status.dead_letter_count:
        lines.append(f"dead letters   {status.dead_letter_count}  <- inspect: `ngs-lake dlq list`")
    lines += ["", "gateway backlog"]
    if status.gateways is None:
        lines.append(f"  unavailable: {status.gateway_error}")
    else:
        for g in status.gateways:
            oldest = (
                "nothing waiting"
                if g.dirty_bytes == 0
                else f"oldest dirty {_age(g.oldest_dirty_age_seconds)}"
            )
            lines.append(
                f"  {g.gateway_id:<12} dirty {format_size(g.dirty_bytes):>9}  "
                f"used {format_size(g.used_bytes):>9}  {oldest}"
            )
    counts = "  ".join(f"{state} {n}" for state, n in status.runs_by_state.items() if n)
    lines += ["", f"runs           {counts or 'none yet'}"]
    if status.stalled:
        lines.append("stalled runs")
        for run in status.stalled:
            lines.append(f"  {run['run_key']}  last activity {ago(run.get('last_activity_at'))}")
    lines += _render_unrecognised(status)
    lines.append("latest notifications")
    if not status.latest:
        lines.append("  none yet")
    for n in status.latest:
        when = "NOT YET PUBLISHED" if n.published_at is None else ago(n.published_at)
        lines.append(f"  {n.message_id}  {when}")
    return "\n".join(lines)
