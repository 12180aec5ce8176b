"""Event ingest: the storage_gateway_events sensor, the run ledger, the DLQ and run.started."""

import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from ngs_lake.orchestration.sequencing.sensors import build_storage_gateway_events_sensor
from ngs_lake.runs.announcements import RunAnnouncer, validate_message
from ngs_lake.runs.ingest import GatewayEventIngest, IngestSettings
from ngs_lake.runs.model import RunState
from ngs_lake.simulator import RunSpec, plan_simulation, simulate
from ngs_lake_tests.conftest import dagster_resources
from ngs_lake_tests.fault_proxy import FaultProxy
from ngs_lake_tests.lake_fixtures import upload_event
from ngs_lake_tests.test_gateway_uploads import wait_for

RUN = "20261129_LH00123_0042_A22F7KLT4"
FAST = IngestSettings(budget_seconds=20, wait_seconds=0, flush_every=50)


def resources_for(lake, endpoint=None):
    return dagster_resources(
        endpoint or lake.moto.endpoint, lake.gateway.endpoint, lake.config_path
    )


def tick(lake, instance, endpoint=None):
    sensor = build_storage_gateway_events_sensor(5, FAST)
    context = dg.build_sensor_context(instance=instance, resources=resources_for(lake, endpoint))
    return sensor(context)


def drain(lake, clients=None):
    return GatewayEventIngest(clients or lake.clients, lake.names, lake.ledger(), FAST).drain()


def novaseq_keys(n_cycles=10):
    keys = [f"{RUN}/RunInfo.xml", f"{RUN}/RunParameters.xml"]
    keys += [
        f"{RUN}/Data/Intensities/BaseCalls/L001/C{c}.1/L001_{s}.cbcl"
        for c in range(1, n_cycles + 1)
        for s in (1, 2)
    ]
    return keys


def test_a_simulated_run_yields_exactly_one_enriched_run_started(lake):
    share_dir = lake.share_folder("MIS-MAD-01")
    (run,) = plan_simulation(
        RunSpec(platform="miseq", scenario="tiny", duration_seconds=1, seed=4, max_file_bytes=4096)
    )
    simulate([run], share_dir, seed=4)
    run_key = f"MIS-MAD-01/{run.run_folder}"
    requests, partitions = [], set()
    with dg.instance_for_test() as instance:

        def ingested_everything():
            result = tick(lake, instance)
            requests.extend(result.run_requests)
            partitions.update(
                k for p in result.dynamic_partitions_requests for k in p.partition_keys
            )
            return lake.ledger().file_count(run_key) >= len(run.files)

        wait_for(ingested_everything, what="every file in the ledger")
        assert run_key in partitions
        assert requests == []  # run.started is published by the tick itself, not by a job
        assert not lake.ledger().get_run(run_key).unpublished

    messages = [
        m
        for m in lake.consumer_messages("lims")
        if json.loads(m["Body"])["event_type"] == "run.started"
    ]
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    validate_message(messages[0]["Body"])
    assert body["event_type"] == "run.started"
    assert body["message_id"] == f"{run_key}#run.started"
    assert body["sequence"] == 1
    assert body["run"]["site"] == "madison"
    assert body["run"]["lab"] == "Madison Biotechnology Core"
    assert body["run"]["platform"] == "miseq"
    assert body["run"]["sequencer_id"] == "MIS-MAD-01"
    assert body["run"]["run_id"] == run.metadata["run_id"]
    assert body["run"]["flowcell"] == run.metadata["flowcell"]
    assert body["run"]["s3_uri"] == f"s3://small-lake-mis-mad-01/{run.run_folder}/"
    assert body["occurred_at"]["timezone"] == "America/Chicago"
    attributes = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
    assert attributes == {
        "event_type": "run.started",
        "platform": "miseq",
        "site": "madison",
        "sequencer_id": "MIS-MAD-01",
    }
    ledger_run = lake.ledger().get_run(run_key)
    assert ledger_run.steps["STARTED"]
    entry = lake.ledger().log.outbox(run_key)[0]
    assert (entry.message_id, entry.sequence) == (f"{run_key}#run.started", 1)
    assert entry.published_at is not None


def test_file_counts_survive_duplicates_and_shuffling(lake):
    share = lake.share("NVX-MAD-01")
    keys = novaseq_keys()
    bodies = [upload_event(share, k, event_id=f"evt-{i}") for i, k in enumerate(keys)]
    stream = bodies * 2  # every message delivered twice
    random.Random(1).shuffle(stream)
    lake.send_raw(stream)
    report = drain(lake)
    assert report.received == len(stream)
    assert report.new_runs == [f"NVX-MAD-01/{RUN}"]
    assert lake.ledger().file_count(f"NVX-MAD-01/{RUN}") == len(keys)
    lake.send_raw(stream[:7])  # and redelivered again later
    assert drain(lake).new_runs == []
    assert lake.ledger().file_count(f"NVX-MAD-01/{RUN}") == len(keys)


def test_a_rewritten_file_counts_once_and_the_latest_wins(lake):
    share = lake.share("NVX-MAD-01")
    early = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    later = early + timedelta(minutes=5)
    lake.send_raw(
        [
            upload_event(share, f"{RUN}/SampleSheet.csv", size=10, modified=early),
            upload_event(share, f"{RUN}/SampleSheet.csv", size=12, modified=later),
        ]
    )
    drain(lake)
    (row,) = lake.ledger().files(f"NVX-MAD-01/{RUN}")
    assert row.path == "SampleSheet.csv"
    assert row.size == 12


def test_events_out_of_order_marker_first_and_runinfo_late(lake):
    share = lake.share("NVX-MAD-01")
    keys = novaseq_keys(3)
    order = [f"{RUN}/CopyComplete.txt", keys[2], keys[3], keys[0], keys[1], *keys[4:]]
    lake.send_raw([upload_event(share, k) for k in order])
    report = drain(lake)
    assert report.new_runs == [f"NVX-MAD-01/{RUN}"]
    assert [m.key for m in report.markers] == ["CopyComplete.txt"]
    assert lake.ledger().file_count(f"NVX-MAD-01/{RUN}") == len(keys) + 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "{not json",
            "malformed JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ('["a list"]', "malformed event: the body is not a JSON object"),
        (
            "WRONG_SOURCE",
            "wrong source 'my.app'; expected one of: aws.storagegateway, ngs-lake.file-gateway",
        ),
        (
            "UNKNOWN_SHARE",
            "unknown share arn:aws:storagegateway:us-east-1:123456789012:share/share-00000000: not in the shares catalogue",
        ),
        ("DOTDOT", "unsafe key '20261129_LH00123_0042_A22F7KLT4/../../etc/passwd': '..' segment"),
        ("LEADING_SLASH", "unsafe key '/etc/passwd': leading '/'"),
        ("NAIVE_TIME", "malformed event: time: Input should have timezone info"),
        (
            "NEGATIVE",
            "malformed Storage Gateway Object Upload Event: object-size: Input should be greater than or equal to 0",
        ),
    ],
)
def test_bad_events_are_parked_in_the_dlq_with_their_reason(lake, body, reason):
    share = lake.share("NVX-MAD-01")
    bodies = {
        "WRONG_SOURCE": upload_event(share, f"{RUN}/RunInfo.xml", source="my.app"),
        "UNKNOWN_SHARE": upload_event(
            {
                **share,
                "share_arn": "arn:aws:storagegateway:us-east-1:123456789012:share/share-00000000",
            },
            f"{RUN}/RunInfo.xml",
        ),
        "DOTDOT": upload_event(share, f"{RUN}/../../etc/passwd"),
        "LEADING_SLASH": upload_event(share, "/etc/passwd"),
        "NEGATIVE": upload_event(share, f"{RUN}/RunInfo.xml", size=-1),
        # no offset: EventBridge takes it as it is; beside an aware time it used to raise
        "NAIVE_TIME": upload_event(share, f"{RUN}/RunParameters.xml").replace(
            'Z", "region"', '", "region"'
        ),
    }
    lake.send_raw([bodies.get(body, body), upload_event(share, f"{RUN}/RunInfo.xml")])
    report = drain(lake)
    assert report.rejected == 1
    assert report.recorded == 1  # the good message beside it went through
    sqs = lake.moto.client("sqs")
    parked = sqs.receive_message(
        QueueUrl=lake.queue_url(lake.names.dead_letter_queue), MessageAttributeNames=["All"]
    )["Messages"]
    assert len(parked) == 1
    assert parked[0]["MessageAttributes"]["reason"]["StringValue"] == reason
    assert parked[0]["Body"] == bodies.get(body, body)
    main = sqs.get_queue_attributes(
        QueueUrl=lake.queue_url(lake.names.events_queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert main == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
    rejected = [
        item
        for item in lake.moto.client("dynamodb").scan(TableName=lake.names.events_table)["Items"]
        if item["kind"]["S"] == "rejected"
    ]
    assert [r["reason"]["S"] for r in rejected] == [reason]


def test_dlq_list_and_redrive(lake):
    share = lake.share("NVX-MAD-01")
    lake.send_raw([upload_event(share, "/abs/key"), "{not json"])
    drain(lake)

    def cli(*args):
        # One-second long polls: moto answers from every message, and the default 20 s would
        # make each listing's last, empty receive wait 20 s (test_cli_safety checks the default).
        return lake.cli("dlq", *args, "--wait", "1")

    listed = cli("list")
    assert listed.returncode == 0, listed.stderr
    # Before the wait, what it waits for (a 20 s long poll was 20 s of silence).
    assert listed.stderr.splitlines()[-1] == (
        "reading small-lake-gateway-events-dlq: each receive waits up to 1 s for messages; "
        "the listing ends after one empty wait"
    )
    assert "2 parked messages" in listed.stdout
    assert "unsafe key '/abs/key': leading '/'" in listed.stdout
    assert "malformed JSON" in listed.stdout
    redriven = cli("redrive", "--reason", "malformed JSON")
    assert redriven.returncode == 0, redriven.stderr
    assert "redrove 1 message\n" in redriven.stdout
    assert "1 parked message" in cli("list").stdout
    report = drain(lake)  # the redriven message is rejected again, back to the DLQ
    assert report.rejected == 1


def test_an_eventbridge_dead_letter_is_listed_with_its_error_and_redriven_into_the_lake(lake):
    """An event EventBridge could not deliver lands in the rule target's DLQ, the events
    queue's own, with the attributes EventBridge adds
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html); `dlq list`
    names its error, and a redrive lets the lake take the event in."""
    share = lake.share("NVX-MAD-01")
    run = "20261201_LH00123_0200_A22DLQEB1"
    attributes = {
        "RULE_ARN": f"arn:aws:events:us-east-1:123456789012:rule/{lake.names.events_rule}",
        "TARGET_ARN": f"arn:aws:sqs:us-east-1:123456789012:{lake.names.events_queue}",
        "ERROR_CODE": "CONNECTION_FAILURE",
        "ERROR_MESSAGE": "Failed to connect to the target",
    }
    lake.moto.client("sqs").send_message(
        QueueUrl=lake.queue_url(lake.names.dead_letter_queue),
        MessageBody=upload_event(share, f"{run}/RunInfo.xml"),
        MessageAttributes={
            k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
        },
    )
    listed = lake.cli("dlq", "list", "--wait", "1")
    assert listed.returncode == 0, listed.stderr
    assert (
        "EventBridge could not deliver it to the events queue: CONNECTION_FAILURE Failed to "
        "connect to the target" in listed.stdout
    )
    redriven = lake.cli("dlq", "redrive", "--reason", "EventBridge", "--wait", "1")
    assert "redrove 1 message\n" in redriven.stdout, redriven.stderr
    assert drain(lake).new_runs == [f"NVX-MAD-01/{run}"]


def test_an_announcement_whose_publish_fails_is_retried_not_lost(lake):
    share = lake.share("NVX-MAD-01")
    lake.send_raw([upload_event(share, k) for k in novaseq_keys(1)])
    report = drain(lake)
    (run_key,) = report.new_runs
    with (
        FaultProxy(int(lake.moto.endpoint.rsplit(":", 1)[1])) as proxy,
        dg.instance_for_test() as instance,
    ):
        proxy.faults.set("Publish", "fail")
        assert tick(lake, instance, proxy.endpoint).run_requests == []
        assert proxy.faults.seen["Publish"] >= 1
        (entry,) = lake.ledger().log.outbox(run_key)
        assert entry.published_at is None  # recorded, not sent
        run = lake.ledger().get_run(run_key)
        assert run.published_sequence == 0
        assert (run.publish_failure.key, run.publish_failure.count) == (
            f"{run_key}#announce#1.0",
            1,
        )
        wait_for(  # after the retry backoff (1 s in this lake), the next tick publishes it
            lambda: (
                tick(lake, instance).run_requests == []
                and not lake.ledger().get_run(run_key).unpublished
            ),
            what="the announcement published again",
        )
    messages = lake.consumer_messages("lims")
    assert [json.loads(m["Body"])["event_type"] for m in messages] == ["run.started"]


def test_republishing_a_recorded_message_sends_the_same_body(lake):
    share = lake.share("NVX-MAD-01")
    lake.send_raw([upload_event(share, k) for k in novaseq_keys(1)])
    (run_key,) = drain(lake).new_runs
    announcer = RunAnnouncer(lake.clients, lake.names, lake.ledger())
    (first,) = announcer.publish_pending(run_key)
    assert announcer.publish_pending(run_key) == []  # nothing left to publish
    (entry,) = lake.ledger().log.outbox(run_key)
    # A crash after the publish and before the mark: the ledger says "not yet published".
    ddb = lake.moto.client("dynamodb")
    ddb.update_item(
        TableName=lake.names.run_log_table,
        Key={"run_key": {"S": run_key}, "entry": {"S": "outbox#00000001"}},
        UpdateExpression="REMOVE published_at",
    )
    ddb.update_item(
        TableName=lake.names.runs_table,
        Key={"run_key": {"S": run_key}},
        UpdateExpression="SET published_sequence = :zero",
        ExpressionAttributeValues={":zero": {"N": "0"}},
    )
    (again,) = announcer.publish_pending(run_key)
    assert (first.message_id, first.sequence) == (again.message_id, again.sequence)
    (republished,) = lake.ledger().log.outbox(run_key)
    assert republished.body == entry.body  # the very same bytes, under the same id
    assert len(lake.consumer_messages("lims")) == 1  # the FIFO topic dropped the repeat


def test_sigkill_between_ledger_write_and_delete_loses_and_duplicates_nothing(lake, tmp_path):
    share = lake.share("NVX-MAD-01")
    keys = novaseq_keys(20)
    lake.send_raw([upload_event(share, k, event_id=f"k-{i}") for i, k in enumerate(keys)])
    script = tmp_path / "drain.py"
    script.write_text(
        "import sys\n"
        "from ngs_lake.aws.clients import AwsClients, AwsTarget\n"
        "from ngs_lake.config.document import load_lake_config\n"
        "from ngs_lake.runs.ingest import GatewayEventIngest, IngestSettings\n"
        "from ngs_lake.runs.ledger import RunLedger\n"
        "from ngs_lake.config.names import LakeNames\n"
        "config = load_lake_config(sys.argv[1])\n"
        "clients = AwsClients(AwsTarget('us-east-1', sys.argv[2], name='local'),\n"
        "                     {'aws_access_key_id': 'testing', 'aws_secret_access_key': 'testing'})\n"
        "names = LakeNames.of(config)\n"
        "GatewayEventIngest(clients, names, RunLedger(clients, names),\n"
        "                   IngestSettings(budget_seconds=60, wait_seconds=0, flush_every=10)).drain()\n"
    )
    sqs = lake.moto.client("sqs")
    url = lake.queue_url(lake.names.events_queue)
    # Time passes faster here: received messages come back after 3 s, not 180 s.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "3"})
    with FaultProxy(int(lake.moto.endpoint.rsplit(":", 1)[1])) as proxy:
        proxy.faults.set("DeleteMessageBatch", "hang")
        process = subprocess.Popen(
            [sys.executable, str(script), str(lake.config_path), proxy.endpoint]
        )
        wait_for(lambda: proxy.faults.seen.get("DeleteMessageBatch"), what="the first delete")
        assert lake.ledger().file_count(f"NVX-MAD-01/{RUN}") >= 10  # written before the delete
        process.kill()
        process.wait()
    time.sleep(3.5)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "180"})
    report = drain(lake)
    assert report.received >= 10  # the killed drain's messages came back
    assert report.new_runs == []  # the run was created before the kill, exactly once
    assert lake.ledger().file_count(f"NVX-MAD-01/{RUN}") == len(keys)
    assert lake.ledger().get_run(f"NVX-MAD-01/{RUN}").state == RunState.STARTED


def test_operator_commands_list_show_and_abort(lake):
    share = lake.share("NVX-MAD-01")
    lake.send_raw([upload_event(share, k, size=2000) for k in novaseq_keys(2)])
    (run_key,) = drain(lake).new_runs

    def cli(*args):
        return lake.cli("runs", *args)

    listed = cli("list", "--state", "STARTED")
    assert listed.returncode == 0, listed.stderr
    assert run_key in listed.stdout
    assert "STARTED" in listed.stdout and "novaseq-x" in listed.stdout
    assert listed.stdout.splitlines()[1].split()[4] == "6"  # files, derived from the ledger
    shown = cli("show", run_key)
    assert shown.returncode == 0, shown.stderr
    assert "state     STARTED" in shown.stdout
    assert "progress  6 files, 12.0 kB" in shown.stdout
    assert "1. run.started" in shown.stdout
    assert "RECORDED, NOT YET PUBLISHED" in shown.stdout
    assert cli("show", "NVX-MAD-01/nope").returncode == 1
    aborted = cli("abort", run_key, "--reason", "flow cell cracked")
    assert aborted.returncode == 0, aborted.stderr
    assert lake.ledger().get_run(run_key).state == RunState.ABORTED
    outbox = [e.message_id for e in lake.ledger().log.outbox(run_key)]
    assert outbox == [f"{run_key}#run.started", f"{run_key}#run.aborted"]  # in that order
    with dg.instance_for_test() as instance:
        assert tick(lake, instance).run_requests == []  # the tick publishes both, in order
    heard = [json.loads(m["Body"])["message_id"] for m in lake.consumer_messages("lims")]
    assert heard == [f"{run_key}#run.started", f"{run_key}#run.aborted"]
    assert cli("abort", run_key).returncode == 1  # already aborted, said plainly
