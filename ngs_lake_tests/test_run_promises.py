"""The run promises: every message once (whatever the run key's length), late events that stall
nothing, a silent gateway that stalls nothing, and retries that end in NEEDS_ATTENTION.

Against the moto server and the gateway process; messages are read from the consumer queue,
state through boto3.
"""

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.runs.announcements import RunAnnouncer
from ngs_lake.runs.model import RunState, Trigger
from ngs_lake.runs.tick import run_tick
from ngs_lake.simulator import RunSpec, plan_simulation, simulate
from ngs_lake_tests.fault_proxy import FaultProxy
from ngs_lake_tests.lake_fixtures import upload_event
from ngs_lake_tests.test_completion import Driver, events_of
from ngs_lake_tests.test_gateway_uploads import wait_for
from ngs_lake_tests.test_ingest import drain, tick

THREE_DAYS_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


def _long_nanopore_key(length: int) -> str:
    """A PromethION run key of exactly `length` characters, as a long experiment name gives."""
    stem = "20261130_1204_1A_PAW12345_a1b2c3d4"
    sample = "NA12878_replicate_3"
    experiment = "x" * (length - len("PRM-MAD-01/") - len(sample) - len(stem) - 2)
    key = f"PRM-MAD-01/{experiment}/{sample}/{stem}"
    assert len(key) == length
    return key


def _proxied_clients(proxy: FaultProxy, lake) -> AwsClients:
    return AwsClients(
        AwsTarget("us-east-1", proxy.endpoint, lake.gateway.endpoint, name="local"),
        {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
    )


def test_a_115_character_run_key_gets_incomplete_1_and_2_both_delivered(lake):
    run_key = _long_nanopore_key(115)
    lake.start_run(run_key, datetime.now(UTC))
    ledger = lake.ledger()
    announcer = RunAnnouncer(lake.clients, lake.names, ledger)
    for trigger in (Trigger.MARKER, Trigger.UPLOAD_CONFIRMED, Trigger.VERIFICATION_FAILED):
        ledger.apply(ledger.require_run(run_key), trigger, details={"missing_count": 1})
    with FaultProxy(int(lake.moto.endpoint.rsplit(":", 1)[1])) as proxy:
        # SNS takes the Publish of run.incomplete#1, then the answer is lost: the lake publishes
        # it again, and the FIFO topic drops the repeat by its deduplication id.
        proxy.faults.set("Publish", "forward_fail")
        failing = RunAnnouncer(_proxied_clients(proxy, lake), lake.names, ledger)
        try:
            failing.publish_pending(run_key)
            raise AssertionError("the publish should have failed at the proxy")
        except Exception as exc:
            assert "InternalFailure" in str(exc) or "500" in str(exc), exc
        assert proxy.faults.seen["Publish"] >= 1
    announcer.publish_pending(run_key)  # the restart: republished under the same ids
    for trigger in (Trigger.RETRY, Trigger.UPLOAD_CONFIRMED, Trigger.VERIFICATION_FAILED):
        ledger.apply(ledger.require_run(run_key), trigger, details={"missing_count": 1})
    announcer.publish_pending(run_key)  # within the minute: inside SNS's 5-minute window
    assert events_of(lake, run_key) == [
        "run.started",
        "run.copy_complete",
        "run.incomplete#1",
        "run.incomplete#2",
    ]


def _simulated_files(tmp_path: Path, spec: RunSpec) -> tuple[object, list[Path]]:
    (run,) = plan_simulation(spec)
    root = tmp_path / f"instrument-{spec.seed}"
    simulate([run], root, seed=spec.seed)
    return run, sorted(p for p in (root / run.run_folder).rglob("*") if p.is_file())


def _late_uploads(lake, sequencer_id: str, run_folder: str, files: list[Path], root: Path):
    """The run's objects as the gateway put them three days ago, and their late events."""
    share = lake.share(sequencer_id)
    s3 = lake.moto.client("s3")
    bodies = []
    for path in files:
        key = path.relative_to(root).as_posix()
        s3.put_object(Bucket=share["bucket"], Key=key, Body=path.read_bytes())
        size = path.stat().st_size
        bodies.append(
            upload_event(share, key, size=size, modified=THREE_DAYS_AGO, time=THREE_DAYS_AGO)
        )
    return bodies


def test_events_three_days_late_stall_and_abort_nothing(lake, tmp_path):
    bodies = []
    complete = []
    for seed in (31, 32):  # two MiSeq runs, whole: they complete
        run, files = _simulated_files(
            tmp_path,
            RunSpec(
                platform="miseq", scenario="tiny", duration_seconds=1, seed=seed, max_file_bytes=256
            ),
        )
        root = tmp_path / f"instrument-{seed}"
        bodies += _late_uploads(lake, "MIS-MAD-01", run.run_folder, files, root)
        complete.append(f"MIS-MAD-01/{run.run_folder}")
    share = lake.share("NVX-MAD-01")  # a NovaSeq X run still sequencing three days ago
    partial = "NVX-MAD-01/20261127_LH00123_0031_A22LATEXT3"
    bodies += [
        upload_event(share, f"{partial.split('/', 1)[1]}/{name}", time=THREE_DAYS_AGO)
        for name in ("RunInfo.xml", "RunParameters.xml", "InterOp/QMetricsOut.bin")
    ]
    lake.send_raw(bodies)  # all at once, as after an outage on the lake's side
    with dg.instance_for_test() as instance:
        driver = Driver(lake, instance)
        driver.until(
            lambda: all(
                (r := lake.ledger().get_run(k)) and r.state == RunState.COMPLETED for k in complete
            ),
            what="the whole runs COMPLETED",
        )
        driver.tick()
    runs = lake.ledger().get_runs([*complete, partial])
    assert runs[partial].state == RunState.STARTED  # three days silent, by the wall clock
    assert not {"STALLED", "ABORTED"} & {s for r in runs.values() for s in r.steps}
    received: dict[str, list[str]] = {}
    for message in lake.consumer_messages("lims"):  # read once: reading drains the queue
        body = json.loads(message["Body"])
        key = body["run"]["run_key"]
        received.setdefault(key, []).append(body["message_id"].removeprefix(f"{key}#"))
    assert received == {
        complete[0]: ["run.started", "run.copy_complete", "run.completed"],
        complete[1]: ["run.started", "run.copy_complete", "run.completed"],
        partial: ["run.started"],
    }


def _core_tick(lake):
    return run_tick(lake.clients, lake.config, lambda key: [])


def test_a_silent_gateway_stalls_none_of_its_runs_and_is_reported_once(lake):
    share = lake.share("PRM-MAD-01")  # on gw-b: a 4 s stall window, 8 s of gateway silence
    folder = "exp_silent/sample_1/20261130_1200_1A_PAW11111_0badc0de"
    lake.send_raw([upload_event(share, f"{folder}/pod5/batch_{i}.pod5") for i in range(3)])
    assert _core_tick(lake).report.new_runs == [f"PRM-MAD-01/{folder}"]
    time.sleep(9)  # longer than the stall window and the silence: the gateway sent nothing
    first, second = _core_tick(lake), _core_tick(lake)
    run = lake.ledger().require_run(f"PRM-MAD-01/{folder}")
    assert run.state == RunState.STARTED  # judged against gw-b's watermark, which stopped
    assert (first.silent_gateways, second.silent_gateways) == (["gw-b"], [])  # raised once
    item = lake.moto.client("dynamodb").get_item(
        TableName=lake.names.gateways_table, Key={"gateway_id": {"S": "gw-b"}}
    )["Item"]
    assert "silent_since" in item
    lake.send_raw([upload_event(share, f"{folder}/pod5/batch_9.pod5")])
    _core_tick(lake)  # heard again: no longer silent
    item = lake.moto.client("dynamodb").get_item(
        TableName=lake.names.gateways_table, Key={"gateway_id": {"S": "gw-b"}}
    )["Item"]
    assert "silent_since" not in item


def test_an_announcement_that_always_fails_ends_in_needs_attention_announced_once(lake):
    run_key = "NVX-MAD-01/20261130_LH00123_0099_A22ATTNXT3"
    lake.start_run(run_key, datetime.now(UTC))
    with (
        FaultProxy(int(lake.moto.endpoint.rsplit(":", 1)[1])) as proxy,
        dg.instance_for_test() as instance,
    ):
        proxy.faults.set("Publish", "fail")

        def fail_until_attention() -> bool:
            assert tick(lake, instance, proxy.endpoint).run_requests == []  # no job publishes
            return lake.ledger().require_run(run_key).state == RunState.NEEDS_ATTENTION

        wait_for(fail_until_attention, timeout=60, interval=0.3, what="NEEDS_ATTENTION")
        # lake.lifecycle_run_attempts: 3 ticks tried (botocore does not retry an answer it
        # cannot parse), then no more
        assert proxy.faults.seen["Publish"] == 3
        run = lake.ledger().require_run(run_key)
        assert (run.attention_from, run.attention_count) == (RunState.STARTED, 1)
        assert run.attention_reason == "announce failed 3 times"
        proxy.faults.set("Publish", None)
        Driver(lake, instance).until(
            lambda: not lake.ledger().require_run(run_key).unpublished, what="published"
        )
    assert events_of(lake, run_key) == ["run.started", "run.needs_attention#1"]
    retried = lake.cli("runs", "retry", run_key)
    assert retried.returncode == 0, retried.stderr
    assert lake.ledger().require_run(run_key).state == RunState.STARTED


def test_a_replayed_old_event_never_moves_last_activity_back(lake):
    share = lake.share("NVX-MAD-01")
    folder = "20261130_LH00123_0100_A22REPLYT3"
    lake.send_raw([upload_event(share, f"{folder}/RunInfo.xml")])
    drain(lake)
    newest = lake.ledger().require_run(f"NVX-MAD-01/{folder}").last_activity_at
    lake.send_raw([upload_event(share, f"{folder}/RunParameters.xml", time=THREE_DAYS_AGO)])
    drain(lake)
    assert lake.ledger().require_run(f"NVX-MAD-01/{folder}").last_activity_at == newest


def test_sns_rules_the_local_stand_in_does_not_enforce():
    """Stated here because moto accepts what AWS refuses: ids of at most 128 characters
    (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html)."""
    from ngs_lake.runs.model import RunEventType as E
    from ngs_lake.runs.model import message_id, sns_deduplication_id, sns_group_id

    key = _long_nanopore_key(115)
    one, two = (sns_deduplication_id(message_id(key, E.INCOMPLETE, n)) for n in (1, 2))
    assert one != two and len(one) == len(two) == 64
    assert sns_group_id(key) == key
    long_key = key + "/" + "y" * 20
    assert len(sns_group_id(long_key)) == 64 and sns_group_id(long_key) != long_key
