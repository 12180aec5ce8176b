"""The lake under simulation: its document, its AWS (moto in process plus the fakes), and the
processes that act on it, each calling the run core's real functions: the events sensor's
`run_tick`, Dagster's lifecycle runs (`complete_run`, `refresh_manifest`, as the assets do),
the alerts sensor's `alert_pass`, the operators' `runs abort | retry | reverify`, and the
run-log migration."""

from __future__ import annotations

import copy
import io
import random
from dataclasses import dataclass, field
from typing import Any

import boto3
import yaml
from moto import mock_aws

from ngs_lake.alerts.dispatch import alert_pass
from ngs_lake.aws.storage_gateway import GatewayCallFailed, StorageGatewayShares
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames
from ngs_lake.provisioning.messaging import MAX_RECEIVE_COUNT, MAX_RETENTION_SECONDS
from ngs_lake.provisioning.tables import create_table_request, table_specs
from ngs_lake.runs.announcements import RunAnnouncer
from ngs_lake.runs.fixity_record import FixityRecordStore
from ngs_lake.runs.ingest import IngestSettings
from ngs_lake.runs.ledger import RunLedger, TransitionConflict
from ngs_lake.runs.lifecycle import complete, record_incomplete
from ngs_lake.runs.model import (
    RunEventType,
    RunState,
    TransitionNotAllowed,
    Trigger,
    parse_iso,
    transition_for,
)
from ngs_lake.runs.retries import Attempt, AttemptStatus
from ngs_lake.runs.run_log_migration import migrate_run
from ngs_lake.runs.sample_sheets import SampleSheetRecorder
from ngs_lake.runs.tick import LifecycleRequest, TickPlan, Work, run_tick
from ngs_lake.runs.upload_requests import UploadRequests
from ngs_lake.runs.verification import verify_run
from ngs_lake_tests.conftest import SMALL_CONFIG
from ngs_lake_tests.simulation.aws import FaultPlan, SimAws
from ngs_lake_tests.simulation.clock import VirtualClock
from ngs_lake_tests.simulation.document import DocumentFile, config_in_force, document_check
from ngs_lake_tests.simulation.fake_gateway import FakeStorageGateway
from ngs_lake_tests.simulation.fake_sns import FakeSns
from ngs_lake_tests.simulation.fake_sqs import FakeSqs
from ngs_lake_tests.simulation.fixity import bare_s3
from ngs_lake_tests.simulation.folders import FolderTruth
from ngs_lake_tests.simulation.world import World

SEQUENCERS = {"PRM-A01": "gw-a", "PRM-A02": "gw-a", "PRM-B01": "gw-b"}
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def simulated_document(gateway_arns: dict[str, str] | None = None) -> LakeConfig:
    """small.yaml with three PromethION sequencers on its two gateways; with `gateway_arns`,
    the gateways are named by ARN, as a document for an existing appliance is."""
    return LakeConfig.model_validate(simulated_document_data(gateway_arns))


def simulated_document_data(gateway_arns: dict[str, str] | None = None) -> dict[str, Any]:
    """The document of `simulated_document`, as the YAML file would hold it."""
    document = yaml.safe_load(SMALL_CONFIG.read_text())
    document["sequencers"] = [
        {"id": s, "gateway": g, "platform": "promethion", "data_rate": "10 GB/h"}
        for s, g in SEQUENCERS.items()
    ]
    document["consumers"] = [c for c in document["consumers"] if c["name"] == "lims"]
    for gateway in document["gateways"]:
        if gateway_arns:
            gateway["arn"] = gateway_arns[gateway["id"]]
    return copy.deepcopy(document)


@dataclass(frozen=True)
class _Row:
    path: str
    event_id: str


@dataclass
class Orchestrator:
    """Dagster, as the run core sees it: the attempts of each piece of work, and the runs it
    launched and has not yet carried out."""

    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    queued: list[LifecycleRequest] = field(default_factory=list)
    requested_after_success: list[str] = field(default_factory=list)
    requests: int = 0

    def log(self, key: str) -> list[Attempt]:
        return list(self.attempts.get(key, []))

    def take(self, plan: TickPlan) -> None:
        for request in plan.requests:
            self.requests += 1
            tried = self.attempts.setdefault(request.key, [])
            if any(a.status == AttemptStatus.SUCCEEDED for a in tried):
                self.requested_after_success.append(request.key)
            tried.append(Attempt(AttemptStatus.IN_FLIGHT))
            self.queued.append(request)

    def finish(self, request: LifecycleRequest, status: AttemptStatus, now: Any) -> None:
        tried = self.attempts[request.key]
        index = next(i for i, a in enumerate(tried) if a.status == AttemptStatus.IN_FLIGHT)
        tried[index] = Attempt(status, now)


class SimLake:
    def __init__(self, seed: int, gateways_by_arn: bool = False) -> None:
        self.rng = random.Random(seed)
        self.clock = VirtualClock()
        self.faults = FaultPlan()
        self.operator_steps: dict[str, list[float]] = {}  # run key -> when an operator stepped
        self.mock = mock_aws()
        self.mock.start()
        session = boto3.Session(region_name="us-east-1", **CREDENTIALS)
        self._session = session
        moto_clients = {"dynamodb": session.client("dynamodb"), "s3": session.client("s3")}
        self.sqs = FakeSqs(self.clock, self.rng)
        self.sns = FakeSns(self.clock, self.rng)
        self.gateway_api = FakeStorageGateway(self.clock, self.rng)
        fakes = {"sqs": self.sqs, "sns": self.sns, "storagegateway": self.gateway_api}
        self.aws = SimAws(self.clock, self.faults, moto_clients, fakes)
        gateways = {
            "gw-a": self.gateway_api.add_gateway("gw-a", "FGW-MAD-A" if gateways_by_arn else None),
            "gw-b": self.gateway_api.add_gateway("gw-b", "FGW-MAD-B" if gateways_by_arn else None),
        }
        arns = {k: g.arn for k, g in gateways.items()} if gateways_by_arn else None
        self.config = simulated_document(arns)
        self.document_text = yaml.safe_dump(simulated_document_data(arns), sort_keys=False)
        self.document_file: DocumentFile | None = None  # issue #35: once the rule is drawn
        self.folder_truth = FolderTruth()  # issue #34: folders outside any run folder
        self.names = LakeNames.of(self.config)
        self.orchestrator = Orchestrator()
        self.settings = IngestSettings(budget_seconds=25.0, wait_seconds=1)
        self._provision(moto_clients)
        # The judge's own clients: they see the same moto backends, past every fault.
        self.inspect = {
            "dynamodb": session.client("dynamodb"),
            "s3": moto_clients["s3"],
        }

    def _provision(self, moto: dict[str, Any]) -> None:
        ddb, s3 = moto["dynamodb"], moto["s3"]
        for spec in table_specs(self.names, None):
            ddb.create_table(**create_table_request(spec))
        dlq = self.sqs.create_queue(
            QueueName=self.names.dead_letter_queue,
            Attributes={"MessageRetentionPeriod": str(MAX_RETENTION_SECONDS)},
        )["QueueUrl"]
        self.dlq_url = dlq
        self.queue_url = self.sqs.create_queue(
            QueueName=self.names.events_queue,
            Attributes={
                "VisibilityTimeout": str(self.config.lake.events_visibility_timeout_seconds),
                "MessageRetentionPeriod": str(MAX_RETENTION_SECONDS),
                "RedrivePolicy": (
                    f'{{"deadLetterTargetArn": "{self.sqs.queues[dlq].arn}", '
                    f'"maxReceiveCount": {MAX_RECEIVE_COUNT}}}'
                ),
            },
        )["QueueUrl"]
        self.topic = self.sns.create_topic(
            Name=self.names.run_events_topic, Attributes={"FifoTopic": "true"}
        )["TopicArn"]
        self.operations = self.sns.create_topic(Name=self.names.operations_topic)["TopicArn"]
        s3.create_bucket(Bucket=self.config.lake.catalog_bucket)
        self.world = World(self.clock, self.rng, self.sqs, self.gateway_api, s3, self.queue_url)
        self.world.dead_letter_url = self.dlq_url  # the rule target's dead letters
        self.world.bare_s3 = bare_s3(self._session)
        self.world.bucket_of = {}
        for sequencer in self.config.sequencers:
            bucket = self.names.bucket(sequencer.id)
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            gateway = self.world.gateway(sequencer.gateway)
            share = self.gateway_api.add_share(
                gateway, sequencer.id, {"sequencer": sequencer.id, "platform": "promethion"}
            )
            self.world.shares[sequencer.id] = share
            self.world.bucket_of[sequencer.id] = bucket
            self._catalogue(ddb, sequencer.id, share.arn, bucket, sequencer.gateway)

    def _catalogue(self, ddb: Any, sequencer_id: str, arn: str, bucket: str, gw: str) -> None:
        ddb.put_item(
            TableName=self.names.shares_table,
            Item={
                "sequencer_id": {"S": sequencer_id},
                "share_arn": {"S": arn},
                "bucket": {"S": bucket},
                "platform": {"S": "promethion"},
                "site": {"S": "madison"},
                "lab": {"S": "madison"},
                "timezone": {"S": "America/Chicago"},
                "gateway_id": {"S": gw},
            },
        )

    # What the judge reads

    def ledger_files(self, run_key: str) -> list[Any]:
        answer = self.inspect["dynamodb"].query(
            TableName=self.names.run_files_table,
            KeyConditionExpression="run_key = :r",
            ExpressionAttributeValues={":r": {"S": run_key}},
            ConsistentRead=True,
        )
        return [_Row(i["path"]["S"], i["event_id"]["S"]) for i in answer["Items"]]

    def watermark_true_time(self, gateway_id: str) -> float | None:
        """The true time of the newest event the lake took in from the gateway."""
        item = (
            self.inspect["dynamodb"]
            .get_item(
                TableName=self.names.gateways_table,
                Key={"gateway_id": {"S": gateway_id}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        if item is None:
            return None
        mark = parse_iso(item["event_time"]["S"]).timestamp()
        gateway = self.world.gateway(gateway_id)
        share_arns = {
            s.arn for s in self.gateway_api.shares.values() if s.gateway_arn == gateway.arn
        }
        times = [
            u.true_at
            for run in self.world.runs.values()
            if run.share_arn in share_arns
            for u in run.uploads
            if abs(u.event_time - mark) < 1
        ]
        return min(times) if times else mark - gateway.skew_seconds

    def oldest_parked_age(self) -> float:
        queue = self.sqs.queues[self.dlq_url]
        now = self.clock.timestamp()
        return max((now - m.sent_at for m in queue.messages), default=0.0)

    def open_alert_subjects(self) -> set[str]:
        items = self.inspect["dynamodb"].scan(TableName=self.names.alerts_table)["Items"]
        # A run's sample sheet alert (issue #31) names no wait: the run completes regardless.
        return {
            i["subject"]["S"]
            for i in items
            if i.get("status", {}).get("S") in ("OPEN", "OPENING")
            and i.get("condition", {}).get("S") != "samplesheet_unreadable"
        }

    def close(self) -> None:
        self.mock.stop()
        if self.document_file is not None:
            self.document_file.close()

    def ledger(self) -> RunLedger:
        return RunLedger(self.aws, self.names, None, self.clock)

    # The processes

    def tick(self) -> TickPlan:
        plan = run_tick(
            self.aws,
            config_in_force(self),
            self.orchestrator.log,
            None,
            self.settings,
            clock=self.clock,
        )
        self.orchestrator.take(plan)
        return plan

    def run_lifecycle_jobs(self, fail: bool = False) -> None:
        """Dagster carries out the runs it launched (all failing, with `fail`)."""
        queued, self.orchestrator.queued = self.orchestrator.queued, []
        for request in queued:
            status = AttemptStatus.FAILED
            if not fail:
                try:
                    self._job(request)
                    status = AttemptStatus.SUCCEEDED
                except Exception:
                    status = AttemptStatus.FAILED
            self.orchestrator.finish(request, status, self.clock.now())

    def _job(self, request: LifecycleRequest) -> None:
        ledger = self.ledger()
        run = ledger.require_run(request.run_key)
        announcer = RunAnnouncer(self.aws, self.names, ledger)
        if request.work == Work.MANIFEST:  # run_manifest: every current object, as Parquet
            self.aws.s3().put_object(
                Bucket=self.config.lake.catalog_bucket,
                Key=f"manifests/{run.run_key}.parquet",
                Body=io.BytesIO(b"PAR1").getvalue(),
            )
            return
        if run.state != RunState.UPLOAD_CONFIRMED:  # sequencing_run, as the asset does it
            announcer.publish_pending(run.run_key)
            return
        verification = verify_run(self.aws.s3(), run, ledger.files(run.run_key))
        if not verification.passed:
            record_incomplete(ledger, run, verification)
            announcer.publish_pending(run.run_key)
            return
        try:
            records = FixityRecordStore(self.aws.s3(), self.config.lake.catalog_bucket)
            sheets = SampleSheetRecorder(self.aws.s3(), ledger)
            complete(ledger, run, verification, records, sheets)
        except TransitionConflict:
            return
        announcer.publish_pending(run.run_key)

    def alert_pass(self) -> Any:
        config, document = document_check(self)
        outcome = alert_pass(
            self.aws, config, self.clock.now(), document=document, clock=self.clock
        )
        _, report = outcome
        # A failed send defers the rest of its pass (alerts/dispatch.py), so only a whole pass
        # is judged on whether it holds config_invalid open.
        if document is not None and not (report.failed or report.deferred):
            self.document_file.alert_passes.append(not document.problems)
        return outcome

    # The run-log migration (provisioning: ngs_lake/provisioning/tables.py)

    def make_legacy(self, run_key: str) -> bool:
        """Turn a recorded run back into the shape the old outbox model left: its outbox a
        map in the run item, its run-log entries gone. False if it has no entries yet."""
        ddb = self.inspect["dynamodb"]
        entries = ddb.query(
            TableName=self.names.run_log_table,
            KeyConditionExpression="run_key = :r",
            ExpressionAttributeValues={":r": {"S": run_key}},
            ConsistentRead=True,
        )["Items"]
        # The old model predates the sample sheet's messages (issue #31): no run it left has one.
        if any(
            e.get("event_type", {}).get("S") == RunEventType.SAMPLESHEET_CHANGED.value
            for e in entries
        ):
            return False
        outbox = {}
        for entry in entries:
            if not entry["entry"]["S"].startswith("outbox#"):
                continue
            old = {"sequence": {"N": str(int(entry["entry"]["S"].removeprefix("outbox#")))}}
            for name in ("recorded_at", "published_at", "body"):
                if name in entry:
                    old[name] = entry[name]
            outbox[entry["message_id"]["S"]] = {"M": old}
            ddb.delete_item(
                TableName=self.names.run_log_table,
                Key={"run_key": entry["run_key"], "entry": entry["entry"]},
            )
        if not outbox:
            return False
        ddb.update_item(
            TableName=self.names.runs_table,
            Key={"run_key": {"S": run_key}},
            UpdateExpression="SET outbox = :o",
            ExpressionAttributeValues={":o": {"M": outbox}},
        )
        return True

    def migrate(self, run_key: str) -> int:
        return migrate_run(self.aws, self.names, run_key, self.clock)

    # Operators (ngs_lake/cli/runs_commands.py, step for step)

    def operator(self, command: str, run_key: str) -> str:
        ledger = self.ledger()
        run = ledger.get_run(run_key)
        if run is None:
            return "no such run"
        try:
            if command == "abort":
                reason = "aborted by an operator"
                ledger.apply(
                    run,
                    Trigger.OPERATOR_ABORT,
                    fields={"abort_reason": reason},
                    details={"reason": reason},
                )
            elif command == "retry":
                ledger.apply(run, Trigger.OPERATOR_RETRY, fields={"attention_reason": None})
            elif command == "reverify":
                transition_for(run.state, Trigger.OPERATOR_REVERIFY)
                shares = StorageGatewayShares(self.aws.storagegateway())
                requests = UploadRequests(
                    ledger.ddb, ledger.names.events_table, shares, ledger.events_ttl_days
                )
                request = requests.ask(run.run_key, run.share_arn, ledger.clock.now())
                fields = {
                    "notification_id": request.notification_id,
                    "notification_requested_at": request.requested_at,
                    "notify_requests": 1,
                    "final": False,
                }
                ledger.apply(run, Trigger.OPERATOR_REVERIFY, fields=fields)
        except (TransitionNotAllowed, TransitionConflict, GatewayCallFailed) as exc:
            return f"refused: {exc}"
        self.operator_steps.setdefault(run_key, []).append(self.clock.timestamp())
        return "done"
