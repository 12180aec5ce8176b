"""Event plumbing: the gateway-events rule and queue (with its DLQ), the run-events FIFO topic,
and one FIFO queue per consumer subscribed with raw delivery and its filter policy.

The queue's visibility timeout outlasts a sensor tick (60 s budget), so a message being worked on is
never handed to a second tick; the DLQ keeps what is parked for SQS's maximum of 14 days.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ngs_lake.config.model import Consumer
from ngs_lake.config.names import EventShard, event_shards
from ngs_lake.provisioning.context import TOPIC_MISSING, ProvisioningContext, read_or_none
from ngs_lake.provisioning.plan import Action, Change, setting_change
from ngs_lake.provisioning.policies import (
    EVENTS_DEAD_LETTERS,
    consumer_filter_policy,
    consumer_queue_policy,
    events_queue_policy,
)

GATEWAY_SOURCES = ("aws.storagegateway", "ngs-lake.file-gateway")
GATEWAY_DETAIL_TYPES = (
    "Storage Gateway Object Upload Event",
    "Storage Gateway File Upload Event",
    "Storage Gateway Refresh Cache Event",
)
MAX_RETENTION_SECONDS = 14 * 24 * 3600
MAX_RECEIVE_COUNT = 5
RULE_TARGET_ID = "gateway-events-queue"
# An event EventBridge cannot deliver to the queue (unavailable, or its policy denies) is retried
# for at most a day and 185 attempts, AWS's maxima and defaults, then sent to the rule target's
# dead-letter queue instead of being dropped; errors no retry can mend (no permission, no queue)
# go there at once. The DLQ is the queue's own, so what lands there is what `ngs-lake dlq list`,
# `status`, the dlq_message_old alert and `dlq redrive` already cover, and a redrive hands the
# event back to the queue as EventBridge would have:
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
RULE_RETRY_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 24 * 3600}
TARGET_SETTINGS = ("Id", "Arn", "InputTransformer", "DeadLetterConfig", "RetryPolicy")
LAKE_TAG = "ngs-lake:lake"  # on rules, so retiring one never touches another lake's


# moto's default delivery to SQS drops the envelope's `account` field (moto 5.x events/utils.py),
# which AWS always sends. On the local target the rule's target therefore carries an input
# transformer that writes exactly AWS's default envelope; on AWS the default is used as is.
ENVELOPE_FIELDS = (
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
)
AWS_ENVELOPE_TEMPLATE = (
    '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
    '"account": "<account>", "time": "<time>", "region": "<region>", "resources": <resources>, '
    '"detail": <detail>}'
)


def rule_target(ctx: ProvisioningContext, target_arn: str, dead_letter_arn: str) -> dict[str, Any]:
    target: dict[str, Any] = {
        "Id": RULE_TARGET_ID,
        "Arn": target_arn,
        "DeadLetterConfig": {"Arn": dead_letter_arn},
        "RetryPolicy": dict(RULE_RETRY_POLICY),
    }
    if ctx.is_local:
        target["InputTransformer"] = {
            "InputPathsMap": {name: f"$.{name}" for name in ENVELOPE_FIELDS},
            "InputTemplate": AWS_ENVELOPE_TEMPLATE,
        }
    return target


def gateway_event_pattern() -> dict[str, list[str]]:
    return {"source": list(GATEWAY_SOURCES), "detail-type": list(GATEWAY_DETAIL_TYPES)}


def queue_arn(ctx: ProvisioningContext, name: str) -> str:
    return f"arn:aws:sqs:{ctx.region}:{ctx.account}:{name}"


def topic_arn(ctx: ProvisioningContext) -> str:
    return f"arn:aws:sns:{ctx.region}:{ctx.account}:{ctx.names.run_events_topic}"


def rule_arn(ctx: ProvisioningContext, shard: EventShard) -> str:
    return f"arn:aws:events:{ctx.region}:{ctx.account}:rule/{shard.rule}"


def plan_event_queues(ctx: ProvisioningContext, gateway_arns: dict[str, str]) -> list[Change]:
    """Per event queue: DLQ, then the queue that redrives into it, then the rule that feeds it;
    then the removal of rules no queue of the document uses any more (a change of
    `lake.event_queues`), so no event is routed to a queue that no sensor drains."""
    shards = event_shards(ctx.config)
    changes = []
    for shard in shards:
        dlq_arn = queue_arn(ctx, shard.dead_letter_queue)
        main_arn = queue_arn(ctx, shard.queue)
        changes += _plan_queue(
            ctx,
            shard.dead_letter_queue,
            {
                "MessageRetentionPeriod": str(MAX_RETENTION_SECONDS),
                # the rule's dead letters: EventBridge sends to it as to the queue
                "Policy": json.dumps(
                    events_queue_policy(dlq_arn, rule_arn(ctx, shard), EVENTS_DEAD_LETTERS)
                ),
            },
        )
        changes += _plan_queue(
            ctx,
            shard.queue,
            {
                "VisibilityTimeout": str(ctx.config.lake.events_visibility_timeout_seconds),
                "MessageRetentionPeriod": str(MAX_RETENTION_SECONDS),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
                ),
                "Policy": json.dumps(events_queue_policy(main_arn, rule_arn(ctx, shard))),
            },
        )
        target = rule_target(ctx, main_arn, dlq_arn)
        changes += _plan_rule(ctx, shard, target, shard_event_pattern(ctx, shard, gateway_arns))
    return changes + _plan_retired_rules(ctx, {s.rule for s in shards})


def shard_event_pattern(
    ctx: ProvisioningContext, shard: EventShard, gateway_arns: dict[str, str]
) -> dict[str, list[str]]:
    """A site's rule matches events whose resources name one of the site's gateways."""
    pattern = gateway_event_pattern()
    if shard.site is not None:
        pattern["resources"] = sorted(
            gateway_arns[g.id] for g in ctx.config.gateways if g.site in shard.sites
        )
    return pattern


def plan_topic(ctx: ProvisioningContext) -> list[Change]:
    sns = ctx.clients.sns
    arn = topic_arn(ctx)
    answer = read_or_none(sns().get_topic_attributes, TOPIC_MISSING, TopicArn=arn)
    attributes = answer and answer["Attributes"]

    def create() -> None:
        sns().create_topic(
            Name=ctx.names.run_events_topic,
            Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "false"},
            Tags=[{"Key": "managed-by", "Value": "ngs-lake"}],
        )

    if attributes is None:
        return [Change("sns-topic", arn, Action.CREATE, "topic not found", run=create)]
    return [
        setting_change(
            "sns-topic",
            arn,
            attributes.get("ContentBasedDeduplication"),
            "false",
            lambda: sns().set_topic_attributes(
                TopicArn=arn, AttributeName="ContentBasedDeduplication", AttributeValue="false"
            ),
        )
    ]


def plan_consumer(ctx: ProvisioningContext, consumer: Consumer) -> list[Change]:
    name = ctx.names.consumer_queue(consumer.name)
    arn = queue_arn(ctx, name)
    changes = _plan_queue(
        ctx,
        name,
        {
            "MessageRetentionPeriod": str(MAX_RETENTION_SECONDS),
            "Policy": json.dumps(consumer_queue_policy(arn, topic_arn(ctx), consumer)),
        },
        fifo=True,
    )
    return [*changes, _plan_subscription(ctx, consumer, arn)]


def _plan_queue(
    ctx: ProvisioningContext, name: str, desired: dict[str, str], fifo: bool = False
) -> list[Change]:
    sqs = ctx.clients.sqs
    try:
        url = sqs().get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in (
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
        ):
            raise
        url = None

    def create() -> None:
        attributes = dict(desired)
        if fifo:
            attributes |= {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
        sqs().create_queue(QueueName=name, Attributes=attributes, tags={"managed-by": "ngs-lake"})

    if url is None:
        return [Change("sqs-queue", name, Action.CREATE, "queue not found", run=create)]
    current = sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    def update() -> None:
        sqs().set_queue_attributes(QueueUrl=url, Attributes=desired)

    return [
        setting_change(
            "sqs-queue",
            name,
            _comparable({k: current.get(k) for k in desired}),
            _comparable(desired),
            update,
        )
    ]


def _comparable(attributes: dict[str, str | None]) -> dict[str, Any]:
    """JSON-valued attributes compare as documents, not as strings with their own spacing."""
    return {
        k: json.loads(v) if k in ("Policy", "RedrivePolicy") and v else v
        for k, v in attributes.items()
    }


def _plan_rule(
    ctx: ProvisioningContext,
    shard: EventShard,
    target: dict[str, Any],
    pattern: dict[str, list[str]],
) -> list[Change]:
    events = ctx.clients.events
    name = shard.rule
    try:
        rule = events().describe_rule(Name=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        rule = None
    scope = "every site" if shard.site is None else f"site {shard.site}"

    def put_rule() -> None:
        events().put_rule(
            Name=name,
            EventPattern=json.dumps(pattern),
            State="ENABLED",
            Description=f"Storage Gateway upload and notification events of {scope} to its queue",
            Tags=[{"Key": LAKE_TAG, "Value": ctx.names.prefix}],
        )

    notes = (
        ("input transformer restores the `account` field moto drops from SQS deliveries",)
        if ctx.is_local
        else ()
    )

    def put_target() -> None:
        events().put_targets(Rule=name, Targets=[target])

    if rule is None:
        return [
            Change("events-rule", name, Action.CREATE, "rule not found", run=put_rule),
            Change("events-target", name, Action.CREATE, "new rule", notes, put_target),
        ]
    current = {"EventPattern": json.loads(rule.get("EventPattern", "{}")), "State": rule["State"]}
    targets = events().list_targets_by_rule(Rule=name)["Targets"]
    return [
        setting_change(
            "events-rule", name, current, {"EventPattern": pattern, "State": "ENABLED"}, put_rule
        ),
        setting_change(
            "events-target",
            name,
            [{k: t[k] for k in TARGET_SETTINGS if k in t} for t in targets] or None,
            [target],
            put_target,
            notes,
        ),
    ]


def _plan_retired_rules(ctx: ProvisioningContext, current: set[str]) -> list[Change]:
    """Gateway-event rules of this lake that no queue uses now: the lake-wide rule by its name,
    per-site rules by the lake tag they were created with (never another lake's rules)."""
    events = ctx.clients.events
    lake_wide = ctx.names.events_rule
    changes = []
    paginator = events().get_paginator("list_rules")
    for page in paginator.paginate(NamePrefix=f"{ctx.names.prefix}-"):
        for rule in page["Rules"]:
            name = rule["Name"]
            if name in current or not name.endswith("-gateway-events"):
                continue
            if name != lake_wide and not _tagged_for_lake(ctx, rule["Arn"]):
                continue

            def remove(name: str = name) -> None:
                ids = [t["Id"] for t in events().list_targets_by_rule(Rule=name)["Targets"]]
                if ids:
                    events().remove_targets(Rule=name, Ids=ids)
                events().delete_rule(Name=name)

            changes.append(
                Change(
                    "events-rule",
                    name,
                    Action.REMOVE,
                    f"lake.event_queues is {ctx.config.lake.event_queues!r}; no queue of the "
                    "document is fed by this rule (its queue is kept: drain it before removal)",
                    run=remove,
                )
            )
    return changes


def _tagged_for_lake(ctx: ProvisioningContext, arn: str) -> bool:
    tags = ctx.clients.events().list_tags_for_resource(ResourceARN=arn)["Tags"]
    return {"Key": LAKE_TAG, "Value": ctx.names.prefix} in tags


def _plan_subscription(ctx: ProvisioningContext, consumer: Consumer, endpoint: str) -> Change:
    sns = ctx.clients.sns
    topic = topic_arn(ctx)
    desired = {
        "RawMessageDelivery": "true",
        "FilterPolicyScope": "MessageAttributes",
        "FilterPolicy": json.dumps(consumer_filter_policy(consumer)),
    }
    subscription = _find_subscription(ctx, topic, endpoint)
    label = f"{consumer.name} -> {endpoint.rsplit(':', 1)[-1]}"

    def subscribe() -> None:
        sns().subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=endpoint,
            Attributes=desired,
            ReturnSubscriptionArn=True,
        )

    if subscription is None:
        return Change("sns-subscription", label, Action.CREATE, "not subscribed", run=subscribe)
    current = sns().get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]

    def update() -> None:
        for key, value in desired.items():
            sns().set_subscription_attributes(
                SubscriptionArn=subscription, AttributeName=key, AttributeValue=value
            )

    return setting_change(
        "sns-subscription",
        label,
        _filter_policy_as_document({k: current.get(k) for k in desired}),
        _filter_policy_as_document(desired),
        update,
    )


def _filter_policy_as_document(attributes: dict[str, Any]) -> dict[str, Any]:
    policy = attributes.get("FilterPolicy")
    return {**attributes, "FilterPolicy": json.loads(policy) if policy else None}


def _find_subscription(ctx: ProvisioningContext, topic: str, endpoint: str) -> str | None:
    try:
        pages = (
            ctx.clients.sns().get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
        )
        for page in pages:
            for sub in page["Subscriptions"]:
                if sub["Endpoint"] == endpoint and sub["Protocol"] == "sqs":
                    return sub["SubscriptionArn"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("NotFound", "NotFoundException"):
            raise
    return None
