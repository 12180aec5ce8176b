"""Sending alerts through the alert state, against the moto server: each alert once, a crash
between the Publish and the mark heals by sending the same alert_id again after the claim's
lease (never by losing it), a failed Publish is sent the next tick, two senders at once send one, and a condition whose source could
not be read is never resolved. Provisioned from the document, subscribers' filters included;
alerts are read from SQS queues subscribed to the operations topic, through boto3."""

import json
import threading
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from botocore.config import Config

from ngs_lake.alerts import dispatch as dispatch_module
from ngs_lake.alerts.conditions import Alert, audit_findings
from ngs_lake.alerts.dispatch import DispatchReport, alert_pass, dispatch, operations_publisher
from ngs_lake.alerts.sources import Evaluation
from ngs_lake.alerts.state import AlertState
from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.names import LakeNames, event_shards
from ngs_lake.orchestration.inventory.assets import CHECKS, inventory_catalog
from ngs_lake.orchestration.operations.sensors import latest_audits
from ngs_lake.provisioning.alerting import plan_operations_topic
from ngs_lake.provisioning.context import ProvisioningContext
from ngs_lake.provisioning.plan import Action, Plan, Stage, apply_plan
from ngs_lake.provisioning.tables import plan_table, table_specs
from ngs_lake_tests.conftest import SMALL_CONFIG, edited_config
from ngs_lake_tests.fault_proxy import FaultProxy
from ngs_lake_tests.lake_fixtures import drain_queue
from ngs_lake_tests.test_gateway_uploads import wait_for
from ngs_lake_tests.test_ingest import resources_for
from ngs_lake_tests.test_inventory import OBJECTS, _record_run, publish

NOW = datetime.now(UTC).replace(microsecond=0)
ACCOUNT = "123456789012"
STALLED = Alert(
    "run_stalled",
    "NVX-MAD-01/20261130_LH00123_0042_A22F7KLT4",
    NOW - timedelta(minutes=5),
    "warning",
    "run NVX-MAD-01/20261130_LH00123_0042_A22F7KLT4 is STALLED",
    "ngs-lake runs show NVX-MAD-01/20261130_LH00123_0042_A22F7KLT4",
)
SILENT = Alert("gateway_silent", "gw-a", NOW, "critical", "gw-a silent", "ngs-lake status")


def _clients(endpoint: str) -> AwsClients:
    return AwsClients(
        AwsTarget("us-east-1", endpoint, None, name="local"),
        {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
    )


class Ops:
    """The alert table and operations topic of a lake, with two subscribed queues: `every`
    hears every alert, `critical` only critical ones (its filter policy)."""

    def __init__(self, moto, tmp_path) -> None:
        sqs = moto.client("sqs")
        self.urls = {
            name: sqs.create_queue(QueueName=f"ops-{name}")["QueueUrl"]
            for name in ("every", "critical")
        }

        def edit(document: dict) -> None:
            document["alerts"] = {
                "subscriptions": [
                    {"protocol": "sqs", "endpoint": f"arn:aws:sqs:us-east-1:{ACCOUNT}:ops-every"},
                    {
                        "protocol": "sqs",
                        "endpoint": f"arn:aws:sqs:us-east-1:{ACCOUNT}:ops-critical",
                        "severities": ["critical"],
                    },
                ]
            }

        self.config = load_lake_config(edited_config(tmp_path, SMALL_CONFIG, edit, "lake.yaml"))
        self.names = LakeNames.of(self.config)
        self.clients = _clients(moto.endpoint)
        self.moto = moto
        self.changes = self.plan().changes
        apply_plan(self.plan())

    def plan(self) -> Plan:
        ctx = ProvisioningContext.build(self.config, self.clients)
        (spec,) = [s for s in table_specs(self.names, None) if s.name == self.names.alerts_table]
        return Plan([Stage("alerts", [plan_table(ctx, spec), plan_operations_topic(ctx)])])

    def send(
        self, alerts: list[Alert], judged: set[str], now: datetime, clients=None
    ) -> DispatchReport:
        clients = clients or self.clients
        evaluation = Evaluation(alerts=list(alerts), judged=judged)
        state = AlertState(clients, self.names)
        return dispatch(state, operations_publisher(clients, self.names), evaluation, now)

    def received(self, queue: str = "every") -> list[dict]:
        messages = drain_queue(self.moto.client("sqs"), self.urls[queue], wait_rounds=1)
        return [
            json.loads(m["Body"])
            | {"attributes": {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}}
            for m in messages
        ]

    def status(self, alert: Alert) -> str:
        item = self.moto.client("dynamodb").get_item(
            TableName=self.names.alerts_table,
            Key={"condition": {"S": alert.condition}, "subject": {"S": alert.subject}},
        )["Item"]
        return item["status"]["S"]


@pytest.fixture
def ops(moto, tmp_path) -> Ops:
    return Ops(moto, tmp_path)


def test_the_topic_and_subscribers_come_from_the_document_and_a_second_plan_changes_nothing(ops):
    created = sorted((c.resource, c.action.value) for c in ops.changes if c.action != Action.NOOP)
    assert created == [
        ("dynamodb-pitr", "create"),
        ("dynamodb-table", "create"),
        ("dynamodb-ttl", "create"),
        ("sns-subscription", "create"),
        ("sns-subscription", "create"),
        ("sns-topic", "create"),
    ]
    assert {c.action for c in ops.plan().changes} == {Action.NOOP}
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:small-lake-operations"
    attributes = ops.moto.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes.get("FifoTopic", "false") == "false"  # standard: email and HTTPS can join


def test_an_alert_is_sent_once_and_resolved_once_and_filters_hold(ops):
    ops.send([STALLED, SILENT], {"run_stalled", "gateway_silent"}, NOW)
    ops.send([STALLED, SILENT], {"run_stalled", "gateway_silent"}, NOW + timedelta(seconds=5))
    every = ops.received()
    assert sorted((m["condition"], m["status"]) for m in every) == [
        ("gateway_silent", "alert"),
        ("run_stalled", "alert"),
    ]
    stalled = next(m for m in every if m["condition"] == "run_stalled")
    assert stalled["attributes"] == {
        "condition": "run_stalled",
        "severity": "warning",
        "status": "alert",
        "alert_id": stalled["alert_id"],
    }
    assert [m["condition"] for m in ops.received("critical")] == ["gateway_silent"]
    ops.send([SILENT], {"run_stalled", "gateway_silent"}, NOW + timedelta(seconds=10))
    ops.send([SILENT], {"run_stalled", "gateway_silent"}, NOW + timedelta(seconds=15))
    (resolved,) = ops.received()
    assert (resolved["status"], resolved["alert_id"]) == ("resolved", stalled["alert_id"])
    assert resolved["resolved_at"] == (NOW + timedelta(seconds=10)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )


def test_an_unread_source_resolves_nothing(ops):
    ops.send([SILENT], {"gateway_silent"}, NOW)
    ops.send([], set(), NOW + timedelta(seconds=5))  # the watermarks could not be read
    assert [m["status"] for m in ops.received()] == ["alert"]
    assert ops.status(SILENT) == "OPEN"


def test_a_crash_between_publish_and_mark_sends_the_same_alert_again_after_the_lease(ops):
    port = int(ops.moto.endpoint.rsplit(":", 1)[1])
    with FaultProxy(port) as proxy:
        proxy.faults.set("UpdateItem", "fail")  # the mark never lands, as if we died first
        with pytest.raises(Exception, match=r"500|InternalFailure|InternalServerError"):
            ops.send([STALLED], {"run_stalled"}, NOW, clients=_clients(proxy.endpoint))
    (first,) = ops.received()
    assert ops.status(STALLED) == "OPENING"
    ops.send([STALLED], {"run_stalled"}, NOW + timedelta(seconds=119))  # the lease holds
    assert ops.received() == []
    ops.send([STALLED], {"run_stalled"}, NOW + timedelta(seconds=121))
    (again,) = ops.received()
    assert again["alert_id"] == first["alert_id"]  # a standard topic cannot drop it; we say so
    assert ops.status(STALLED) == "OPEN"
    ops.send([STALLED], {"run_stalled"}, NOW + timedelta(seconds=400))
    assert ops.received() == []


def test_a_publish_that_fails_is_sent_the_next_tick_and_never_lost(ops):
    port = int(ops.moto.endpoint.rsplit(":", 1)[1])
    with FaultProxy(port) as proxy:
        proxy.faults.set("Publish", "fail")
        report = ops.send([SILENT], {"gateway_silent"}, NOW, clients=_clients(proxy.endpoint))
    assert report.opened == [] and len(report.failed) == 1, report
    assert ops.received() == []
    ops.send([], {"gateway_silent"}, NOW + timedelta(seconds=2))  # cleared meanwhile
    statuses = [m["status"] for m in ops.received()]
    # The claimed alert goes out first, then its resolution: the operator hears both.
    assert statuses == ["alert", "resolved"]


def test_two_senders_at_once_send_one_alert(ops):
    start = threading.Barrier(4)
    errors = []

    def sender() -> None:
        try:
            start.wait()
            ops.send([STALLED, SILENT], {"run_stalled", "gateway_silent"}, NOW)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(m["condition"] for m in ops.received()) == ["gateway_silent", "run_stalled"]


def test_a_failed_inventory_audit_reaches_the_alerts_with_its_dagster_severity(lake):
    """The real `inventory_catalog` run: its failing checks, read back from the instance as the
    alerts sensor reads them, alert with the check's severity (ERROR critical, WARN warning)."""
    _record_run(lake, ["RunInfo.xml", "Data/Intensities/BaseCalls/L001/C1.1/L001_2.cbcl"])
    publish(lake, OBJECTS, datetime.now(UTC))
    with dg.instance_for_test() as instance:
        dg.materialize([inventory_catalog], instance=instance, resources=resources_for(lake))
        audits = latest_audits(instance)
    assert {a.name for a in audits} == set(CHECKS)
    alerts = {a.subject: a.severity for a in audit_findings(audits)}
    assert alerts == {
        "inventory_catalog/ledger_files_in_inventory": "critical",  # one file missing
        "inventory_catalog/report_fresh": "warning",  # two sequencers have no report yet
    }


def test_a_burst_over_a_pass_budget_is_sent_by_the_next_pass(ops, monkeypatch):
    monkeypatch.setattr(dispatch_module, "MAX_SENDS_PER_PASS", 1)
    report = ops.send([STALLED, SILENT], {"run_stalled", "gateway_silent"}, NOW)
    assert (len(report.opened), report.deferred) == (1, 1)
    assert len(ops.received()) == 1
    report = ops.send([STALLED, SILENT], {"run_stalled", "gateway_silent"}, NOW)
    assert (len(report.opened), report.deferred) == (1, 0)
    assert len(ops.received()) == 1


JUDGED = {"run_stalled", "gateway_silent"}


def test_a_slow_sns_costs_one_bounded_publish_and_ends_the_pass(ops):
    port = int(ops.moto.endpoint.rsplit(":", 1)[1])
    with FaultProxy(port) as proxy:
        proxy.faults.delay_seconds = 6.0  # longer than the publisher's 5 s read timeout
        proxy.faults.set("Publish", "delay")
        report = ops.send([STALLED, SILENT], JUDGED, NOW, clients=_clients(proxy.endpoint))
        assert proxy.faults.seen["Publish"] == 1  # one attempt, no retry, then the pass ended
        assert (len(report.failed), report.opened, report.deferred) == (1, [], 1)
        # The slow Publish did land: an answer lost, as the alert state documents. Its claim
        # was released, so the next pass sends it again under the same alert_id.
        (late,) = wait_for(ops.received, timeout=30, interval=0.2, what="the late Publish")
    report = ops.send([STALLED, SILENT], JUDGED, NOW + timedelta(seconds=5))
    assert len(report.resent) + len(report.opened) == 2
    again = {m["alert_id"] for m in ops.received()}
    assert late["alert_id"] in again and len(again) == 2


class SlowSns:
    """The injected clock of a pass whose every Publish takes 100 s (virtual time)."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def now(self) -> datetime:
        return NOW + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed


def test_each_claim_is_stamped_when_its_send_starts_so_a_slow_pass_duplicates_nothing(ops):
    clock = SlowSns()
    publish = operations_publisher(ops.clients, ops.names)
    others: list[DispatchReport] = []

    def slow(alert: Alert, status: str, resolved_at: datetime | None) -> None:
        clock.elapsed += 100  # this Publish takes 100 s, inside the 120 s lease
        if alert.key == SILENT.key:  # meanwhile another sensor's tick, 200 s into the pass
            others.append(ops.send([STALLED, SILENT], JUDGED, clock.now()))
        publish(alert, status, resolved_at)

    evaluation = Evaluation(alerts=[STALLED, SILENT], judged=JUDGED)
    report = dispatch(AlertState(ops.clients, ops.names), slow, evaluation, NOW, clock)
    assert len(report.opened) == 2
    # SILENT was claimed when its send started, 100 s in: still leased, not taken over.
    assert [(o.resent, o.opened) for o in others] == [([], [])]
    assert sorted(m["condition"] for m in ops.received()) == ["gateway_silent", "run_stalled"]


def _alert_pass(ops: Ops, now: datetime):
    """The alerts sensor's pass; the Storage Gateway API is not served here (its source is
    reported unreadable), the dead-letter queue is."""
    clients = AwsClients(
        AwsTarget("us-east-1", ops.moto.endpoint, ops.moto.endpoint, name="local"),
        {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
        botocore_config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    return alert_pass(clients, ops.config, now)


def test_a_dlq_sample_without_the_old_message_neither_resolves_nor_reopens_its_alert(ops):
    """ReceiveMessage returns at most 10 messages, and a DLQ keeps a message's enqueue time, so
    an old event parked late sits behind newer ones, out of a 100-message peek."""
    sqs = ops.moto.client("sqs")
    (shard,) = event_shards(ops.config)
    dlq = sqs.create_queue(QueueName=shard.dead_letter_queue)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
    redrive = {"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": "1"}
    source = sqs.create_queue(
        QueueName="parking", Attributes={"RedrivePolicy": json.dumps(redrive)}
    )["QueueUrl"]
    sqs.send_message(QueueUrl=source, MessageBody="parked late")
    (late,) = sqs.receive_message(
        QueueUrl=source, VisibilityTimeout=0, MessageSystemAttributeNames=["SentTimestamp"]
    )["Messages"]
    sent = datetime.fromtimestamp(int(late["Attributes"]["SentTimestamp"]) / 1000, UTC)
    sqs.send_message(QueueUrl=dlq, MessageBody="parked early")
    wait_for(lambda: datetime.now(UTC) >= sent + timedelta(seconds=1), what="a second later")
    for start in range(0, 110, 10):
        entries = [{"Id": str(i), "MessageBody": f"new {start + i}"} for i in range(10)]
        sqs.send_message_batch(QueueUrl=dlq, Entries=entries)
    # Received once already: this receive moves it to the DLQ, behind the 110 new ones.
    assert sqs.receive_message(QueueUrl=source, WaitTimeSeconds=1).get("Messages", []) == []
    # The two parked first are older than dlq_message_age; the 110 sent a second later are not.
    now = sent + timedelta(seconds=ops.config.alerts.dlq_message_age + 0.999)
    _alert_pass(ops, now)
    (opened,) = ops.received()
    assert (opened["condition"], opened["status"]) == ("dlq_message_old", "alert")
    (early,) = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=1)["Messages"]
    assert early["Body"] == "parked early"
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=early["ReceiptHandle"])  # an operator's
    # The peek sees 100 new ones, not the late one: unknown, so kept open and not sent again.
    evaluation, report = _alert_pass(ops, now)
    assert (report.opened, report.resolved, report.still_open) == ([], [], 1)
    assert any(shard.dead_letter_queue in u and "in part" in u for u in evaluation.unreadable)
    assert ops.received() == []
    sqs.purge_queue(QueueUrl=dlq)
    evaluation, report = _alert_pass(ops, now)  # read whole: empty, so resolved
    (resolved,) = ops.received()
    assert (resolved["status"], resolved["alert_id"]) == ("resolved", opened["alert_id"])
