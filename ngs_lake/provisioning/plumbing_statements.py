"""The provisioning task's statements for the event plumbing and the shares: what
messaging.py, alerting.py and shares.py call, each action named for the call that needs it.
Kept apart from dagster_roles.py, which assembles the roles' documents from them."""

from __future__ import annotations

from ngs_lake.provisioning.iam_arns import LakeArns, Statement, allow


def messaging_statements(arns: LakeArns) -> list[Statement]:
    """messaging.py: event queues and DLQs, the FIFO topic, consumer queues and subscriptions,
    and the EventBridge rules that feed the event queues."""
    queues = [*arns.event_queues, *arns.dead_letter_queues, *arns.consumer_queues]
    return [
        allow(
            "ManageQueues",
            [
                "sqs:CreateQueue",
                "sqs:TagQueue",
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:SetQueueAttributes",
            ],
            queues,
        ),
        # alerting.py: the operations topic, its subscriptions, and the removal of one the
        # document drops.
        allow(
            "ManageOperationsTopic",
            [
                "sns:CreateTopic",
                "sns:TagResource",
                "sns:GetTopicAttributes",
                "sns:Subscribe",
                "sns:ListSubscriptionsByTopic",
            ],
            arns.operations_topic,
        ),
        allow(
            "ManageOperationsSubscriptions",
            ["sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes", "sns:Unsubscribe"],
            f"{arns.operations_topic}:*",
        ),
        allow(
            "ManageRunEventsTopic",
            [
                "sns:CreateTopic",
                "sns:TagResource",
                "sns:GetTopicAttributes",
                "sns:SetTopicAttributes",
                "sns:Subscribe",
                "sns:ListSubscriptionsByTopic",
            ],
            arns.topic,
        ),
        # A subscription's ARN is the topic's followed by its id.
        allow(
            "ManageSubscriptions",
            ["sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes"],
            f"{arns.topic}:*",
        ),
        allow(
            "ManageGatewayEventRules",
            [
                "events:PutRule",
                "events:TagResource",
                "events:DescribeRule",
                "events:ListTagsForResource",
                "events:ListTargetsByRule",
                "events:PutTargets",
                "events:RemoveTargets",
                "events:DeleteRule",  # rules retired by a change of lake.event_queues
            ],
            arns.lake_rules,
        ),
        allow("ListRules", ["events:ListRules"], "*"),
    ]


def share_statements(arns: LakeArns) -> list[Statement]:
    """shares.py: find gateways, list, create, update, tag and retire the sequencers' shares."""
    statements = [
        allow(
            "ListGatewaysAndShares",
            ["storagegateway:ListGateways", "storagegateway:ListFileShares"],
            "*",
        ),
        allow(
            "CreateShares",
            ["storagegateway:CreateSMBFileShare", "storagegateway:DescribeCache"],
            arns.gateways,
        ),
        allow(
            "ManageShares",
            [
                "storagegateway:DescribeSMBFileShares",
                "storagegateway:UpdateSMBFileShare",
                "storagegateway:DeleteFileShare",  # an old share, once its gateway is clean
                "storagegateway:AddTagsToResource",
                "storagegateway:RemoveTagsFromResource",
            ],
            arns.shares,
        ),
        # CreateSMBFileShare hands the share the gateway role. Storage Gateway does not support
        # iam:PassedToService conditions, so none is set:
        # https://docs.aws.amazon.com/filegateway/latest/files3/grant-access-s3.html
        allow("PassGatewayRole", ["iam:PassRole"], arns.config.lake.gateway_role_arn),
    ]
    replication = arns.config.lake.replication
    if replication is not None:  # PutBucketReplication hands S3 the replication role
        statements.append(
            allow(
                "PassReplicationRole",
                ["iam:PassRole"],
                replication.role_arn,
                Condition={"StringEquals": {"iam:PassedToService": "s3.amazonaws.com"}},
            )
        )
    return statements
