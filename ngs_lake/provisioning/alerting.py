"""The operations topic (`<prefix>-operations`) and its subscribers from `alerts.subscriptions`.

A standard topic, not FIFO: email and HTTPS endpoints can subscribe only to standard topics
(https://docs.aws.amazon.com/sns/latest/dg/fifo-sns-subscribe.html). Each subscriber's
`conditions` and `severities` become its filter policy on the alert's message attributes; SQS
subscribers get raw delivery, so a queue receives the alert's JSON and its attributes as is.
Email and HTTPS subscriptions stay pending until their owner confirms them. A subscription the
document no longer lists is removed.
"""

from __future__ import annotations

import json
from typing import Any

from ngs_lake.config.model import AlertSubscription
from ngs_lake.provisioning.context import TOPIC_MISSING, ProvisioningContext, read_or_none
from ngs_lake.provisioning.iam_arns import LakeArns, Statement, allow
from ngs_lake.provisioning.plan import Action, Change, setting_change

PENDING = "PendingConfirmation"


def operations_topic_arn(ctx: ProvisioningContext) -> str:
    return f"arn:aws:sns:{ctx.region}:{ctx.account}:{ctx.names.operations_topic}"


def subscription_attributes(subscription: AlertSubscription) -> dict[str, str]:
    policy: dict[str, list[str]] = {}
    if subscription.conditions:
        policy["condition"] = list(subscription.conditions)
    if subscription.severities:
        policy["severity"] = list(subscription.severities)
    attributes = {}
    if policy:
        attributes["FilterPolicyScope"] = "MessageAttributes"
        attributes["FilterPolicy"] = json.dumps(policy, sort_keys=True)
    if subscription.protocol == "sqs":
        attributes["RawMessageDelivery"] = "true"
    return attributes


def plan_operations_topic(ctx: ProvisioningContext) -> list[Change]:
    """The topic, then each subscription: one group, applied in order."""
    sns = ctx.clients.sns
    arn = operations_topic_arn(ctx)
    exists = read_or_none(sns().get_topic_attributes, TOPIC_MISSING, TopicArn=arn) is not None

    def create() -> None:
        sns().create_topic(
            Name=ctx.names.operations_topic, Tags=[{"Key": "managed-by", "Value": "ngs-lake"}]
        )

    changes = [
        Change("sns-topic", arn, Action.NOOP, "exists")
        if exists
        else Change("sns-topic", arn, Action.CREATE, "topic not found", run=create)
    ]
    current = _subscriptions(ctx, arn) if exists else {}
    wanted = ctx.config.alerts.subscriptions
    changes += [
        _plan_subscription(ctx, arn, s, current.get((s.protocol, s.endpoint))) for s in wanted
    ]
    listed = {(s.protocol, s.endpoint) for s in wanted}
    for (protocol, endpoint), subscription_arn in sorted(current.items()):
        if (protocol, endpoint) in listed or subscription_arn == PENDING:
            continue

        def remove(subscription_arn: str = subscription_arn) -> None:
            sns().unsubscribe(SubscriptionArn=subscription_arn)

        changes.append(
            Change(
                "sns-subscription",
                f"operations -> {protocol} {endpoint}",
                Action.REMOVE,
                "no longer in alerts.subscriptions",
                run=remove,
            )
        )
    return changes


def _subscriptions(ctx: ProvisioningContext, topic: str) -> dict[tuple[str, str], str]:
    out = {}
    pages = ctx.clients.sns().get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
    for page in pages:
        for sub in page["Subscriptions"]:
            out[(sub["Protocol"], sub["Endpoint"])] = sub["SubscriptionArn"]
    return out


def _plan_subscription(
    ctx: ProvisioningContext, topic: str, subscription: AlertSubscription, existing: str | None
) -> Change:
    sns = ctx.clients.sns
    desired = subscription_attributes(subscription)
    label = f"operations -> {subscription.protocol} {subscription.endpoint}"
    notes: tuple[str, ...] = ()
    if subscription.protocol in ("email", "https"):
        notes = ("stays pending until its owner confirms the subscription message",)
    else:
        notes = (f"the queue's policy must let sns.amazonaws.com SendMessage from {topic}",)

    def subscribe() -> None:
        sns().subscribe(
            TopicArn=topic,
            Protocol=subscription.protocol,
            Endpoint=subscription.endpoint,
            Attributes=desired,
            ReturnSubscriptionArn=True,
        )

    if existing is None:
        return Change("sns-subscription", label, Action.CREATE, "not subscribed", notes, subscribe)
    if existing == PENDING:
        return Change("sns-subscription", label, Action.NOOP, "awaiting confirmation", notes)
    current = sns().get_subscription_attributes(SubscriptionArn=existing)["Attributes"]
    managed = ("FilterPolicyScope", "FilterPolicy", "RawMessageDelivery")

    def comparable(attributes: dict[str, Any]) -> dict[str, Any]:
        out = {k: attributes.get(k) for k in managed if attributes.get(k) not in (None, "")}
        if out.get("RawMessageDelivery") == "false":
            del out["RawMessageDelivery"]
        if "FilterPolicy" in out:
            out["FilterPolicy"] = json.loads(out["FilterPolicy"])
        else:
            out.pop("FilterPolicyScope", None)
        return out

    def update() -> None:
        for key in managed:
            if key in desired:
                value = desired[key]
            elif key == "FilterPolicy":
                value = ""  # an empty policy removes it
            else:
                continue
            sns().set_subscription_attributes(
                SubscriptionArn=existing, AttributeName=key, AttributeValue=value
            )

    return setting_change(
        "sns-subscription", label, comparable(current), comparable(desired), update, notes
    )


def alerts_sensor_statements(arns: LakeArns) -> list[Statement]:
    """What the daemon's operations_alerts sensor (alerts/) needs beyond the events sensor's
    statements, which already let it read runs by state and the watermarks."""
    return [
        # AlertState: records (Scan), claims and marks (PutItem, UpdateItem), trends (Query).
        allow(
            "AlertState",
            ["dynamodb:Scan", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            arns.table(arns.names.alerts_table),
        ),
        # parked_sent_times: how many are held, then a peek (receive, release). The batch
        # call is authorized as sqs:ChangeMessageVisibility.
        allow(
            "PeekParkedEvents",
            [
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
                "sqs:ChangeMessageVisibility",
            ],
            arns.dead_letter_queues,
        ),
        # UnrecognisedFolders.unrecognised: the candidates (Scan), a run's parent dropped
        # (DeleteItem); the runs under a folder are queried through the by-sequencer index,
        # which the events sensor's RunLifecycle statement already allows.
        allow(
            "JudgeUnrecognisedFolders",
            ["dynamodb:Scan", "dynamodb:DeleteItem"],
            arns.table(arns.names.unrecognised_folders_table),
        ),
        # cache_backlog: ListGateways (no resource), DescribeCache per gateway.
        allow("ListGateways", ["storagegateway:ListGateways"], "*"),
        allow("ReadGatewayCaches", ["storagegateway:DescribeCache"], arns.gateways),
        allow("PublishAlerts", ["sns:Publish"], arns.operations_topic),
    ]
