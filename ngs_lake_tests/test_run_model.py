"""The run model: the transition table, bounded items, one verification per run, and an outbox
that publishes each message once, in order, across a crash between a transition and its publish.

Everything is observed from outside: items read back through boto3, messages from the consumer
queue, calls counted by a botocore event hook.
"""

import dataclasses
import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import boto3
import dagster as dg
import pytest
import yaml

from ngs_lake.aws.clients import AwsClients
from ngs_lake.orchestration.resources import AwsConnection
from ngs_lake.orchestration.sequencing.assets import sequencing_run
from ngs_lake.runs.announcements import RunAnnouncer
from ngs_lake.runs.model import (
    TRANSITIONS,
    RunEventType,
    RunFile,
    RunState,
    TransitionNotAllowed,
    Trigger,
    transition_for,
)
from ngs_lake.simulator import RunSpec, plan_simulation, simulate
from ngs_lake_tests.fault_proxy import FaultProxy
from ngs_lake_tests.test_gateway_uploads import wait_for
from ngs_lake_tests.test_ingest import resources_for, tick

RUN_KEY = "NVX-MAD-01/20261130_LH00123_0077_A22BOUNDT3"
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item limit


def test_the_transition_table_is_the_lifecycle_of_architecture_section_1():
    rows = {(t.trigger, frozenset(t.sources), t.target, t.announces) for t in TRANSITIONS}
    s, e = RunState, RunEventType
    assert (
        Trigger.MARKER,
        frozenset({s.STARTED, s.STALLED}),
        s.MARKER_SEEN,
        e.COPY_COMPLETE,
    ) in rows
    assert (Trigger.UPLOAD_CONFIRMED, frozenset({s.MARKER_SEEN}), s.UPLOAD_CONFIRMED, None) in rows
    assert (Trigger.VERIFIED, frozenset({s.UPLOAD_CONFIRMED}), s.COMPLETED, e.COMPLETED) in rows
    assert transition_for(s.STALLED, Trigger.ACTIVITY).target == s.STARTED
    assert transition_for(s.STALLED, Trigger.ABANDONED).announces == e.ABORTED
    with pytest.raises(TransitionNotAllowed):
        transition_for(s.COMPLETED, Trigger.MARKER)  # a completed run never goes back
    with pytest.raises(TransitionNotAllowed):
        transition_for(s.ABORTED, Trigger.OPERATOR_ABORT)


def _item_bytes(item: dict) -> int:
    """An upper bound of DynamoDB's item size: the names and values as JSON text."""
    return len(json.dumps(item).encode())


# ~2,000 ledger writes and 1,003 publishes over HTTP to moto: 300 s ran out under load 30.
@pytest.mark.timeout(600)
def test_a_run_with_1000_amendments_10000_files_and_1000_notifications_stays_bounded(lake):
    now = datetime.now(UTC)
    lake.start_run(RUN_KEY, now)
    ledger = lake.ledger()
    files = [
        RunFile(
            RUN_KEY, f"Data/Intensities/BaseCalls/L001/C{i}.1/L001_1.cbcl", 4096, now, f"e{i}", now
        )
        for i in range(10_000)
    ]
    ledger.write_batch(files, [])
    for trigger in (Trigger.MARKER, Trigger.UPLOAD_CONFIRMED, Trigger.VERIFIED):
        ledger.apply(ledger.require_run(RUN_KEY), trigger)
    for n in range(1, 1001):
        late = [f"Reports/late_{n}_{i}.html" for i in range(3)]
        ledger.apply(
            ledger.require_run(RUN_KEY),
            Trigger.LATE_FILES,
            details={"late_files": late},
            late_paths=late,
        )
    run = ledger.require_run(RUN_KEY)
    assert (run.state, run.amended_count, run.sequence) == (RunState.COMPLETED, 1000, 1003)
    assert ledger.file_count(RUN_KEY) == 10_000
    assert ledger.log.amendment(RUN_KEY, 1000) == [f"Reports/late_1000_{i}.html" for i in range(3)]
    # The LIMS queue would hold 1,003 messages, and moto's SQS slows with depth: this test is
    # about the ledger, so the topic publishes to the consumers that filter amendments out.
    sns = lake.moto.client("sns")
    for sub in sns.list_subscriptions()["Subscriptions"]:
        if sub["Endpoint"].endswith(lake.names.consumer_queue("lims")):
            sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    published = RunAnnouncer(lake.clients, lake.names, ledger).publish_pending(RUN_KEY)
    assert len(published) == 1003
    assert [p.sequence for p in published] == list(range(1, 1004))
    assert not ledger.require_run(RUN_KEY).unpublished
    ddb = lake.moto.client("dynamodb")
    sizes = {
        table: max(
            _item_bytes(item)
            for page in ddb.get_paginator("scan").paginate(TableName=table)
            for item in page["Items"]
        )
        for table in (lake.names.runs_table, lake.names.run_log_table)
    }
    print(f"largest items: {sizes}")  # reported in the note
    assert sizes[lake.names.runs_table] < 4096  # the run item does not grow with its life
    assert max(sizes.values()) < MAX_ITEM_BYTES


CRASHING_PUBLISHER = """
import sys
from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.names import LakeNames
from ngs_lake.runs.announcements import RunAnnouncer
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.model import Trigger
config = load_lake_config(sys.argv[1])
clients = AwsClients(
    AwsTarget("us-east-1", sys.argv[2], storagegateway_endpoint_url=sys.argv[3], name="local"),
    {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
)
names = LakeNames.of(config)
ledger = RunLedger(clients, names)
ledger.apply(ledger.require_run(sys.argv[4]), Trigger.MARKER)
print("transition recorded", flush=True)
RunAnnouncer(clients, names, ledger).publish_pending(sys.argv[4])
"""


@pytest.mark.parametrize(
    "fault",
    ["hang", "forward_hang"],
    ids=["killed-before-the-publish-reached-sns", "killed-after-sns-took-it-before-the-mark"],
)
def test_a_crash_between_transition_and_publish_publishes_each_message_once_in_order(
    lake, tmp_path, fault
):
    lake.start_run(RUN_KEY, datetime.now(UTC) - timedelta(minutes=5))
    script = tmp_path / "publisher.py"
    script.write_text(CRASHING_PUBLISHER)
    with FaultProxy(int(lake.moto.endpoint.rsplit(":", 1)[1])) as proxy:
        proxy.faults.set("Publish", fault)
        process = subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(lake.config_path),
                proxy.endpoint,
                lake.gateway.endpoint,
                RUN_KEY,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: proxy.faults.seen.get("Publish"), what="the first Publish")
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert "transition recorded" in process.stdout.read()
    run = lake.ledger().require_run(RUN_KEY)
    assert (run.state, run.sequence, run.published_sequence) == (RunState.MARKER_SEEN, 2, 0)
    RunAnnouncer(lake.clients, lake.names, lake.ledger()).publish_pending(RUN_KEY)  # restarted
    bodies = [json.loads(m["Body"]) for m in lake.consumer_messages("lims")]
    assert [(b["message_id"], b["sequence"]) for b in bodies] == [
        (f"{RUN_KEY}#run.started", 1),
        (f"{RUN_KEY}#run.copy_complete", 2),
    ]


LISTINGS: list[str] = []  # every S3 ListObjectsV2 the counting connection's clients make
_COUNTING_SESSION = boto3.Session()
_COUNTING_SESSION.events.register(
    "provide-client-params.s3.ListObjectsV2",
    lambda params, **kwargs: LISTINGS.append(params.get("Prefix")),
)


class CountingConnection(AwsConnection):
    """The asset's own resource, its clients built on a session with a botocore event hook."""

    def clients(self, default_region: str | None = None) -> AwsClients:
        made = super().clients(default_region)
        return AwsClients(made.target, made.credentials, session=_COUNTING_SESSION)


def test_a_run_is_listed_once_per_verification_and_its_metadata_is_on_the_partition(lake, tmp_path):
    # No listing fits the tick's budget, so the run waits in UPLOAD_CONFIRMED for the asset.
    document = yaml.safe_load(lake.config_path.read_text())
    document["lake"]["tick_verify_seconds"] = "0.000001s"
    over_budget = tmp_path / "over-budget.yaml"
    over_budget.write_text(yaml.safe_dump(document, sort_keys=False))
    lake = dataclasses.replace(lake, config_path=over_budget)
    (run,) = plan_simulation(
        RunSpec(platform="miseq", scenario="tiny", duration_seconds=1, seed=21, max_file_bytes=512)
    )
    simulate([run], lake.share_folder("MIS-MAD-01"), seed=21)
    run_key = f"MIS-MAD-01/{run.run_folder}"
    with dg.instance_for_test() as instance:

        def confirmed() -> bool:
            result = tick(lake, instance)  # the sensor only: nothing it requests is run
            for request in result.dynamic_partitions_requests:
                instance.add_dynamic_partitions("sequencing_runs", list(request.partition_keys))
            found = lake.ledger().get_run(run_key)
            return found is not None and found.state == RunState.UPLOAD_CONFIRMED

        wait_for(confirmed, timeout=120, interval=0.5, what="UPLOAD_CONFIRMED")
        resources = resources_for(lake)
        counting = CountingConnection(**resources["aws"].model_dump())
        LISTINGS.clear()
        result = dg.materialize(
            [sequencing_run],
            partition_key=run_key,
            instance=instance,
            resources={**resources, "aws": counting},
        )
        assert result.success
        assert [f"{run.run_folder}/"] == LISTINGS  # the asset and both checks: one listing
        checks = result.get_asset_check_evaluations()
        assert sorted((c.check_name, c.passed) for c in checks) == [
            ("file_count_matches_geometry", True),
            ("no_object_missing", True),
        ]
        (materialization,) = result.asset_materializations_for_node("sequencing_run")
        metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["flowcell"] == run.metadata["flowcell"]
    assert metadata["run_instrument"] == run.metadata["instrument"]
    assert lake.ledger().require_run(run_key).flowcell == run.metadata["flowcell"]
