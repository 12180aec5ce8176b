"""The alerts end to end: a real Dagster daemon runs the `operations_alerts` sensor against a
moto server and the software gateway, and each condition is made to happen, read from an SQS
queue subscribed to the operations topic (through boto3), cleared, and its "resolved" message
read. The daemon is SIGKILLed and started again while every alert is open: nothing is sent twice.

One scenario drives all eight conditions at once, for the module (a daemon's start is the
expensive part); each test then checks its condition's messages. The stack
(lake_fixtures.module_lake_with_daemon) runs on the session's moto server, which no other test
resets while this module runs: the module stays whole on one worker.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey, DagsterInstance

from ngs_lake.cli import main as cli_main
from ngs_lake.local.processes import ManagedProcess
from ngs_lake.runs.model import Trigger
from ngs_lake_tests.conftest import SMALL_CONFIG, MotoServer, edited_config
from ngs_lake_tests.lake_fixtures import Lake, module_lake_with_daemon
from ngs_lake_tests.test_gateway_uploads import wait_for

pytestmark = pytest.mark.slow
SETTLE = 30  # seconds a written file stays dirty on its gateway before it uploads
RUNS = {
    "run_stalled": "NVX-MAD-01/20261130_LH00123_0001_A22F7KLT1",
    "run_incomplete": "NVX-MAD-01/20261130_LH00123_0002_A22F7KLT2",
    "run_needs_attention": "NVX-MAD-01/20261130_LH00123_0003_A22F7KLT3",
}
SUBJECTS = {
    **RUNS,
    "gateway_silent": "gw-a",
    "dlq_message_old": "small-lake-gateway-events-dlq",
    "gateway_buffer_low": "gw-b",
    "upload_backlog_growing": "gw-b",
    "inventory_audit_failed": "inventory_catalog/every_object_locked",
}


def _edit(document: dict) -> None:
    lake = document["lake"]
    lake["settling_time_seconds"] = SETTLE
    lake["gateway_silence"] = "10m"  # gw-a is made silent by its watermark, not by waiting
    # gw-b: 1 GB holds 21.00001 days of PRM-MAD-01 at 1,984,126 B/h, 496 bytes over the target,
    # so one small file waiting to upload puts it under.
    document["gateways"][1]["cache"] = "1 GB"
    document["sequencers"][2]["data_rate"] = "1984126 B/h"
    document["consumers"] = []
    document["alerts"] = {
        "evaluate_every": "2s",
        "dlq_message_age": "3s",
        "backlog_growth_window": "4s",
        "subscriptions": [
            {"protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:123456789012:small-lake-ops"}
        ],
    }


@dataclass
class Scenario:
    before_restart: list[dict]  # every message read before the daemon was killed
    after_restart: list[dict]
    witness: dict  # the alert first raised after the restart: the new daemon was judging
    listed: str  # `ngs-lake alerts list` while the first seven were open


class AlertQueue:
    def __init__(self, lake: Lake) -> None:
        self.sqs = lake.moto.client("sqs")
        self.url = lake.queue_url("small-lake-ops")
        self.read: list[dict] = []

    def poll(self) -> list[dict]:
        batch = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        for m in batch:
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
            attributes = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
            received = {"received": datetime.now(UTC).isoformat(), "attributes": attributes}
            self.read.append(json.loads(m["Body"]) | received)
        return self.read

    def until(self, what: str, predicate, timeout: float = 90) -> list[dict]:
        return wait_for(lambda: predicate(self.poll()) and self.read, timeout, 0, what)


def _have(status: str, conditions: Iterable[str]) -> Callable[[list[dict]], bool]:
    return lambda read: set(conditions) <= {m["condition"] for m in read if m["status"] == status}


def _write_files(folder: Path, count: int, size: int, every: float) -> threading.Thread:
    folder.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        for n in range(count):
            (folder / f"scratch-{n}.bin").write_bytes(os.urandom(size))
            time.sleep(every)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def _report_audit(dagster_home: Path, passed: bool) -> None:
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.report_runless_asset_event(
            AssetCheckEvaluation(
                asset_key=AssetKey("inventory_catalog"),
                check_name="every_object_locked",
                passed=passed,
                severity=AssetCheckSeverity.ERROR,
                description="none failing" if passed else "3 objects in 1 bucket not locked",
            )
        )


def _make_runs(lake: Lake) -> None:
    """Three runs put where the lifecycle would put them; their announcements marked published,
    so the daemon launches no announce runs for them."""
    ledger = lake.ledger()
    steps = {
        "run_stalled": [Trigger.SILENCE],
        "run_incomplete": [Trigger.MARKER, Trigger.UPLOAD_CONFIRMED, Trigger.VERIFICATION_FAILED],
        "run_needs_attention": [Trigger.GAVE_UP],
    }
    for condition, run_key in RUNS.items():
        lake.start_run(run_key, datetime.now(UTC) - timedelta(minutes=10))
        for trigger in steps[condition]:
            run = ledger.require_run(run_key)
            ledger.apply(run, trigger, fields={"published_sequence": run.sequence + 1})


def _set_heard(lake: Lake, gateway_id: str, received_at: datetime) -> None:
    """gw-a's watermark, as the events sensor writes it when it takes in the gateway's events."""
    at = received_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lake.moto.client("dynamodb").put_item(
        TableName=lake.names.gateways_table,
        Item={"gateway_id": {"S": gateway_id}, "event_time": {"S": at}, "received_at": {"S": at}},
    )


def _all_marked(lake: Lake) -> bool:
    items = lake.moto.client("dynamodb").scan(TableName=lake.names.alerts_table)["Items"]
    statuses = [i["status"]["S"] for i in items if "status" in i]
    return len(statuses) == len(SUBJECTS) - 1 and set(statuses) == {"OPEN"}


@pytest.fixture(scope="module")
def stack(
    moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Lake, ManagedProcess]]:
    work = tmp_path_factory.mktemp("alerts")
    config_path = edited_config(work, SMALL_CONFIG, _edit, "lake.yaml")
    with module_lake_with_daemon(moto_server, work, config_path, ("small-lake-ops",)) as stack:
        yield stack


@pytest.fixture(scope="module")
def scenario(stack) -> Scenario:
    lake, daemon = stack
    queue = AlertQueue(lake)
    home = daemon.log_path.parent / "dagster_home"
    _make_runs(lake)
    _set_heard(lake, "gw-a", datetime.now(UTC) - timedelta(hours=1))
    lake.send_raw(["not an event: the events sensor parks it in the DLQ"])
    queue.until("the first alerts", _have("alert", RUNS))  # the sensor is judging now
    shares = lake.gateway.state_dir / "gateways"
    # Files written to gw-b faster than it uploads them (each waits SETTLE seconds): its
    # buffer falls under the target and its backlog grows for the 4 s window.
    writer = _write_files(shares / "gw-b" / "PRM-MAD-01", 4, 1000, 1.5)
    before = set(SUBJECTS) - {"inventory_audit_failed"}
    queue.until("an alert per condition", _have("alert", before))
    # Killed between ticks: a kill between a Publish and its mark sends the alert again after
    # the claim's lease, by design (test_alert_state.py shows that case).
    wait_for(lambda: _all_marked(lake), 30, what="every alert marked sent")
    listed = lake.cli("alerts", "list").stdout
    daemon.signal(signal.SIGKILL)
    wait_for(lambda: daemon.exit_code() is not None, 10, what="the daemon gone")
    before_restart = list(queue.poll())
    daemon.start()
    _report_audit(home, passed=False)
    read = queue.until("the witness alert", _have("alert", ["inventory_audit_failed"]))
    witness = next(m for m in read if m["condition"] == "inventory_audit_failed")
    # Clear every condition as an operator or the lake would.
    ledger = lake.ledger()
    for run_key in RUNS.values():
        run = ledger.require_run(run_key)
        ledger.apply(run, Trigger.OPERATOR_ABORT, fields={"published_sequence": run.sequence + 1})
    _set_heard(lake, "gw-a", datetime.now(UTC))
    dlq = lake.queue_url(lake.names.dead_letter_queue)
    sqs = lake.moto.client("sqs")
    parked = wait_for(
        lambda: sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"),
        60,
        what="the parked event",
    )
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=parked[0]["ReceiptHandle"])
    _report_audit(home, passed=True)
    writer.join()
    queue.until("a resolution per condition", _have("resolved", SUBJECTS), SETTLE + 90)
    time.sleep(6)  # three more sensor intervals: anything sent twice would arrive by now
    after = queue.poll()[len(before_restart) :]
    (daemon.log_path.parent / "alerts.json").write_text(json.dumps(queue.read, indent=1))
    return Scenario(before_restart, after, witness, listed)


def _messages(scenario: Scenario, condition: str) -> list[dict]:
    return [
        m for m in scenario.before_restart + scenario.after_restart if m["condition"] == condition
    ]


@pytest.mark.parametrize("condition", sorted(SUBJECTS))
def test_each_condition_alerts_once_then_resolves_once(scenario, condition):
    messages = _messages(scenario, condition)
    assert [(m["status"], m["subject"]) for m in messages] == [
        ("alert", SUBJECTS[condition]),
        ("resolved", SUBJECTS[condition]),
    ]
    alert, resolved = messages
    assert alert["alert_id"] == resolved["alert_id"]
    assert alert["attributes"]["condition"] == condition
    assert alert["attributes"]["severity"] == alert["severity"] in ("warning", "critical")
    assert resolved["resolved_at"] >= alert["began_at"]


def test_the_restarted_daemon_judged_every_open_alert_and_sent_none_again(scenario):
    alerts_before = {m["condition"] for m in scenario.before_restart if m["status"] == "alert"}
    assert alerts_before == set(SUBJECTS) - {"inventory_audit_failed"}
    again = [m for m in scenario.after_restart if m["status"] == "alert"]
    assert [m["condition"] for m in again] == ["inventory_audit_failed"]
    assert scenario.witness["severity"] == "critical"  # the check's ERROR severity


def test_each_alert_names_an_ngs_lake_command_that_exists(scenario):
    commands = {m["command"] for m in scenario.before_restart + scenario.after_restart}
    assert "ngs-lake runs show " + RUNS["run_stalled"] in commands
    for command in commands:
        words = command.split()[1:]
        group = cli_main
        with click.Context(cli_main) as ctx:
            while isinstance(group, click.Group) and words:
                group = group.get_command(ctx, words.pop(0))
                assert group is not None, command


def test_alerts_list_shows_each_open_alert_with_its_command(scenario):
    lines = scenario.listed.splitlines()
    for condition, subject in SUBJECTS.items():
        if condition == "inventory_audit_failed":
            continue
        (line,) = [n for n, text in enumerate(lines) if f" {condition} {subject} " in text]
        assert lines[line].startswith("OPEN "), lines[line]
        command = next(m["command"] for m in scenario.before_restart if m["condition"] == condition)
        assert lines[line + 2].strip() == f"look closer: {command}"
