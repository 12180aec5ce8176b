"""IAM documents for the Dagster processes that run the lake (deploy/dagster.yaml): the webserver,
the daemon, the run tasks, and the run task that runs `provision_lake`.

Each statement allows what named calls of ngs_lake need, and nothing on the lake's sequencer
buckets goes beyond reading: the run tasks and the daemon (its events sensor verifies and
announces; `lake_config_changed` plans, with the provisioning role's reads) read runs; the
webserver reads no object; the provisioning task manages the buckets' configuration, never their
objects. The bucket policies' Denies (TLS only, no deletion or shorter retention, the lake key
only) apply to all of them on top.

Where the code runs: with workspace.yaml's `python_module`, the webserver and the daemon each
start their own code server, so sensors and schedules run under the daemon's role, while every
job runs in its own ECS task (EcsRunLauncher) under a run task's role. provision_lake's task
takes the provisioning role through a task-role override on that job (`ecs/task_overrides`).

Not generated: what the Dagster instance needs for itself beyond compute logs (Postgres, the
EcsRunLauncher's calls), which depends on the cluster. STS GetCallerIdentity needs no permission.
"""

from __future__ import annotations

import re

from ngs_lake.provisioning.alerting import alerts_sensor_statements
from ngs_lake.provisioning.approvals import document_record_statements
from ngs_lake.provisioning.fixity_statements import (
    fixity_audit_statements,
    fixity_verification_statements,
)
from ngs_lake.provisioning.iam_arns import (
    COMPUTE_LOG_PREFIX,
    Document,
    LakeArns,
    Statement,
    allow,
    bucket_arn,
    document,
    objects_arn,
)
from ngs_lake.provisioning.plumbing_statements import messaging_statements, share_statements

WEBSERVER = "dagster webserver"
DAEMON = "dagster daemon"
RUN_TASK = "dagster run task"
PROVISIONING_TASK = "dagster run task for provision_lake"
READ = re.compile(r"^[a-z0-9-]+:(Get|Describe|List|Scan)")


def dagster_role_documents(arns: LakeArns) -> dict[str, Document]:
    return {
        WEBSERVER: webserver_policy(arns),
        DAEMON: daemon_policy(arns),
        RUN_TASK: run_task_policy(arns),
        PROVISIONING_TASK: provisioning_task_policy(arns),
    }


def _through_s3(arns: LakeArns) -> dict:
    """The lake key only as S3's SSE-KMS uses it on the principal's behalf."""
    return {"StringEquals": {"kms:ViaService": arns.s3_service}}


def webserver_policy(arns: LakeArns) -> Document:
    """The UI shows runs from Postgres and compute logs from S3; no lake call runs in it."""
    logs = arns.target.compute_log_bucket
    buckets = [a for b in arns.sequencer_buckets for a in (bucket_arn(b), objects_arn(b))]
    lake_data = [*buckets, *arns.tables, *arns.event_queues, *arns.dead_letter_queues, arns.topic]
    return document(
        [
            # S3ComputeLogManager (deploy/dagster.yaml compute_logs) reads a run's logs for the UI.
            allow("ReadComputeLogs", ["s3:GetObject"], objects_arn(logs, f"{COMPUTE_LOG_PREFIX}/")),
            allow(
                "ListComputeLogs",
                ["s3:ListBucket"],
                bucket_arn(logs),
                Condition={"StringLike": {"s3:prefix": f"{COMPUTE_LOG_PREFIX}/*"}},
            ),
            # Its code server loads the document in force: the record, when the file is invalid.
            *document_record_statements(arns, write=False),
            # A sensor evaluated from the UI ("Test sensor") would run in the webserver's code
            # server: it must not drain the events queue or write the ledger from here.
            {
                "Sid": "NoLakeDataInTheWebserver",
                "Effect": "Deny",
                "Action": ["s3:*", "dynamodb:*", "sqs:*", "sns:*"],
                "Resource": lake_data,
            },
        ]
    )


def daemon_policy(arns: LakeArns) -> Document:
    """The events sensors (runs/ingest.py, runs/lifecycle.py); schedules only request runs."""
    runs, files = arns.names.runs_table, arns.names.run_files_table
    return document(
        [
            # GatewayEventIngest: GetQueueUrl, ReceiveMessage, DeleteMessageBatch.
            allow(
                "DrainGatewayEvents",
                ["sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage"],
                arns.event_queues,
            ),
            # GatewayEventIngest parks rejected messages itself: SendMessageBatch to the DLQ.
            allow(
                "ParkRejectedEvents",
                ["sqs:GetQueueUrl", "sqs:SendMessage"],
                arns.dead_letter_queues,
            ),
            # RunLedger.get_run, get_runs, start_run, touch, apply, runs_in_state. A
            # TransactWriteItems is authorized per item, as its PutItem or UpdateItem:
            # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
            allow(
                "RunLifecycle",
                [
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:Query",
                ],
                arns.table(runs, indexes=True),
            ),
            # RunLedger.apply and start_run: the outbox entry and amendment each step owes.
            allow("RecordRunLog", ["dynamodb:PutItem"], arns.table(arns.names.run_log_table)),
            # GatewayWatermarks: advance (UpdateItem), all (Scan), report_silent (UpdateItem).
            allow(
                "GatewayWatermarks",
                ["dynamodb:UpdateItem", "dynamodb:Scan"],
                arns.table(arns.names.gateways_table),
            ),
            # RunLedger.write_batch: run files and event records, BatchWriteItem; file_rows:
            # which paths of a completed run the ledger holds (BatchGetItem).
            allow(
                "RecordFilesAndEvents",
                ["dynamodb:BatchWriteItem", "dynamodb:BatchGetItem"],
                [*arns.table(files), *arns.table(arns.names.events_table)],
            ),
            # UnrecognisedFolders.record: a candidate per stray top-level folder (UpdateItem).
            allow(
                "RecordUnrecognisedFolders",
                ["dynamodb:UpdateItem"],
                arns.table(arns.names.unrecognised_folders_table),
            ),
            # UploadRequests: each NotifyWhenUploaded request recorded (PutItem) and found again
            # by its notification id (GetItem) in the events table.
            allow(
                "RecordUploadRequests",
                ["dynamodb:PutItem", "dynamodb:GetItem"],
                arns.table(arns.names.events_table),
            ),
            # ShareCatalogue.load: Scan of the shares table.
            allow("ReadShareCatalogue", ["dynamodb:Scan"], arns.table(arns.names.shares_table)),
            # RunProgress: NotifyWhenUploaded when a run's marker arrives, and on retries.
            allow("AskForUploadNotifications", ["storagegateway:NotifyWhenUploaded"], arns.shares),
            # The tick's lifecycle steps (runs/verify_pass.py, runs/announce_pass.py): verify_run,
            # RunAnnouncer (bodies, marks, Publish, share tags), record_publish_failure.
            *_tick_lifecycle_statements(arns),
            *alerts_sensor_statements(arns),
            *document_record_statements(arns, write=True),
            *plan_read_statements(arns),
            *fixity_verification_statements(arns),
        ]
    )


def _tick_lifecycle_statements(arns: LakeArns) -> list[Statement]:
    sequencers = arns.sequencer_buckets
    return [
        allow(
            "ListRuns",
            ["s3:ListBucket", "s3:ListBucketVersions"],
            [bucket_arn(b) for b in sequencers],
        ),
        # HeadObject and GetObject by VersionId (s3:GetObjectVersion): a sample sheet's
        # versions (runs/sample_sheets.py) and the sample manifest's read of one (issue #31).
        allow(
            "ReadRunObjects",
            ["s3:GetObject", "s3:GetObjectVersion"],
            [objects_arn(b) for b in sequencers],
        ),
        # RunAnnouncer: the per-run sample manifest, written into the catalogue's samples/.
        allow(
            "WriteSampleManifests",
            ["s3:PutObject"],
            objects_arn(arns.config.lake.catalog_bucket, "samples/"),
        ),
        allow(
            "UseLakeKeyThroughS3",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            arns.key,
            Condition=_through_s3(arns),
        ),
        allow(
            "PublishRunLog",
            ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem"],
            arns.table(arns.names.run_log_table),
        ),
        allow("ReadRunFiles", ["dynamodb:Query"], arns.table(arns.names.run_files_table)),
        allow("PublishRunEvents", ["sns:Publish"], arns.topic),
        allow("ReadShareTags", ["storagegateway:ListTagsForResource"], arns.shares),
    ]


def run_task_policy(arns: LakeArns) -> Document:
    """complete_run (sequencing_run and its checks), refresh_manifest, run_manifest,
    inventory_catalog and capacity_report."""
    inventory, catalog = arns.config.lake.inventory.bucket, arns.config.lake.catalog_bucket
    sequencers = arns.sequencer_buckets
    runs, files = arns.names.runs_table, arns.names.run_files_table
    return document(
        [
            # verify_run and run_manifest: ListObjectsV2, ListObjectVersions.
            allow(
                "ListRuns",
                ["s3:ListBucket", "s3:ListBucketVersions"],
                [bucket_arn(b) for b in sequencers],
            ),
            # verify_run and RunAnnouncer.run_metadata: GetObject of a run's instrument files;
            # the sample manifest: its sheet's version by VersionId (s3:GetObjectVersion).
            allow(
                "ReadRunObjects",
                ["s3:GetObject", "s3:GetObjectVersion"],
                [objects_arn(b) for b in sequencers],
            ),
            # refresh_catalogue: the newest report (ListObjectsV2 with a delimiter), its
            # manifest, checksum and data files (GetObject).
            allow("ReadInventoryReports", ["s3:ListBucket"], bucket_arn(inventory)),
            allow("ReadInventoryFiles", ["s3:GetObject"], objects_arn(inventory)),
            # refresh_catalogue (upload_file: PutObject or multipart), run_manifest and
            # capacity_report (PutObject), mirror_catalogue (ListObjectsV2, download_file).
            allow("ListCatalogue", ["s3:ListBucket"], bucket_arn(catalog)),
            allow(
                "WriteCatalogue",
                ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                objects_arn(catalog),
            ),
            # SSE-KMS: Decrypt to read runs and the catalogue (and for multipart uploads),
            # GenerateDataKey to write the catalogue.
            allow(
                "UseLakeKeyThroughS3",
                ["kms:Decrypt", "kms:GenerateDataKey"],
                arns.key,
                Condition=_through_s3(arns),
            ),
            # RunLedger.get_run, apply (TransactWriteItems: UpdateItem of the run, PutItem of its
            # outbox entry), mark_published, runs_of_sequencer (Query on the by-sequencer index)
            # and files.
            allow(
                "RunLifecycle",
                ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"],
                arns.table(runs, indexes=True),
            ),
            # RunAnnouncer.publish_pending: the pending entries (Query), their bodies
            # (UpdateItem, GetItem), the mark; RunLedger.apply: the entry a verdict owes.
            allow(
                "PublishRunLog",
                ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                arns.table(arns.names.run_log_table),
            ),
            allow("ReadRunFiles", ["dynamodb:Query"], arns.table(files)),
            # RunAnnouncer.publish: Publish to the FIFO topic.
            allow("PublishRunEvents", ["sns:Publish"], arns.topic),
            # RunAnnouncer: a share's tags (ListTagsForResource); capacity_report: cache_backlog
            # (ListGateways, DescribeCache).
            allow("ReadShareTags", ["storagegateway:ListTagsForResource"], arns.shares),
            allow("ReadGatewayCaches", ["storagegateway:DescribeCache"], arns.gateways),
            allow("ListGateways", ["storagegateway:ListGateways"], "*"),
            _write_compute_logs(arns),
            *fixity_verification_statements(arns),
            *fixity_audit_statements(arns),
        ]
    )


def plan_read_statements(arns: LakeArns) -> list[Statement]:
    """`lake_config_changed` plans in the daemon's code server: the provisioning role's reads."""
    reads = (
        {**s, "Sid": f"Plan{s['Sid']}", "Action": [a for a in s["Action"] if READ.match(a)]}
        for s in provisioning_task_policy(arns)["Statement"]
    )
    return [s for s in reads if s["Action"]]


def _write_compute_logs(arns: LakeArns) -> Statement:
    """S3ComputeLogManager uploads a run's stdout and stderr from its task."""
    logs = objects_arn(arns.target.compute_log_bucket, f"{COMPUTE_LOG_PREFIX}/")
    return allow("WriteComputeLogs", ["s3:PutObject"], logs)


def provisioning_task_policy(arns: LakeArns) -> Document:
    """plan_lake and apply_plan (provisioning/): every resource's settings, no object."""
    buckets = [bucket_arn(b) for b in (*arns.sequencer_buckets, *arns.lake_buckets)]
    return document(
        [
            # buckets.py: HeadBucket (s3:ListBucket), CreateBucket with Object Lock, and each
            # setting's Get/Put: versioning, Object Lock, encryption, public access block,
            # ownership, tags, lifecycle, inventory, logging, replication, policy.
            allow("ManageLakeBuckets", BUCKET_SETTINGS, buckets),
            *_kms_statements(arns),
            # tables.py: CreateTable (tagged) with its waiter, UpdateTable, point-in-time
            # recovery, TTL; shares.py: the catalogue of shares (Scan, PutItem).
            allow("ManageLedgerTables", TABLE_SETTINGS, arns.tables),
            allow(
                "WriteShareCatalogue",
                ["dynamodb:Scan", "dynamodb:PutItem"],
                arns.table(arns.names.shares_table),
            ),
            # run_log_migration.py: runs still holding an outbox map (Scan, GetItem), moved into
            # the run log (TransactWriteItems of PutItem), then removed (UpdateItem).
            allow(
                "MigrateRunLog",
                ["dynamodb:Scan", "dynamodb:GetItem", "dynamodb:UpdateItem"],
                arns.table(arns.names.runs_table),
            ),
            allow("WriteRunLog", ["dynamodb:PutItem"], arns.table(arns.names.run_log_table)),
            # approvals.py: the apply's record (PutObject); document_in_force.py: the record.
            *document_record_statements(arns, write=True),
            *messaging_statements(arns),
            *share_statements(arns),
            _write_compute_logs(arns),
        ]
    )


BUCKET_SETTINGS = [
    "s3:ListBucket",
    "s3:CreateBucket",
    *(
        f"s3:{verb}{noun}"
        for noun in (
            "BucketVersioning",
            "BucketObjectLockConfiguration",
            "EncryptionConfiguration",
            "BucketPublicAccessBlock",
            "BucketOwnershipControls",
            "BucketTagging",
            "LifecycleConfiguration",
            "InventoryConfiguration",
            "BucketLogging",
            "ReplicationConfiguration",
            "BucketPolicy",
        )
        for verb in ("Get", "Put")
    ),
    "s3:DeleteBucketPolicy",  # the local target's policy loses its AWS-only statements
]

TABLE_SETTINGS = [
    "dynamodb:CreateTable",
    "dynamodb:TagResource",
    "dynamodb:DescribeTable",
    "dynamodb:UpdateTable",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:UpdateTimeToLive",
]


def _kms_statements(arns: LakeArns) -> list[Statement]:
    """kms_key.py: the key does not exist before the first apply, so its ARN is not known to
    the document then; the key calls are on the account's keys, the alias on the lake's alias."""
    return [
        # CreateKey (tagged managed-by: ngs-lake).
        allow("CreateLakeKey", ["kms:CreateKey"], "*"),
        allow(
            "TagLakeKey",
            ["kms:TagResource"],
            arns.any_key,
            Condition={"StringEquals": {"aws:RequestTag/managed-by": "ngs-lake"}},
        ),
        # CreateAlias needs the alias and the key; DescribeKey finds the key by its alias.
        allow("NameLakeKey", ["kms:CreateAlias"], [arns.key_alias, arns.any_key]),
        allow(
            "FindAndRotateLakeKey",
            ["kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:EnableKeyRotation"],
            arns.any_key,
        ),
    ]
