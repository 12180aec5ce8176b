"""One failing Storage Gateway call fails one run or one gateway, never the tick (issue #30,
defects 6 and 11): a retired share's run ends in NEEDS_ATTENTION naming the error, a gateway
that does not answer stalls none of its runs and is reported, a marker whose notification
request failed is kept and requested again, and a gateway configured by `arn` (its name on the
API differs from the document's id) is found by that ARN, by the tick and by the alerts.

One module stack: a moto server, and the software gateway process serving `gw-a` and `gw-b`
under those names. The lake's document calls the second gateway `lab-b` and gives its `arn`, as
an operator would for an appliance activated under another name, and names a third gateway
`gw-c` whose ARN the API does not list. Faults are real: the gateway process stopped (its API
refuses connections) and a share deleted through the API (FileShareNotFound from then on).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ngs_lake.alerts.sources import evaluate
from ngs_lake.alerts.state import AlertState
from ngs_lake.aws.storage_gateway import cache_backlog, lake_gateway_ids
from ngs_lake.gateway.arns import gateway_arn
from ngs_lake.local.processes import http_ok
from ngs_lake.operations.run_views import run_report
from ngs_lake.runs.announcements import RunAnnouncer
from ngs_lake.runs.model import NewRun, RunState, Trigger
from ngs_lake.runs.tick import run_tick
from ngs_lake.runs.watermarks import GatewayWatermarks
from ngs_lake_tests.conftest import SMALL_CONFIG, MotoServer, edited_config
from ngs_lake_tests.lake_fixtures import Lake, module_lake, upload_event
from ngs_lake_tests.test_gateway_uploads import wait_for

ACCOUNT = "123456789012"
LAB_B_ARN = gateway_arn("us-east-1", ACCOUNT, "gw-b")  # the ARN the gateway process gives gw-b
UNLISTED_ARN = f"arn:aws:storagegateway:us-east-1:{ACCOUNT}:gateway/sgw-0000C0DE"


def _timings(document: dict) -> None:
    document["lake"]["settling_time_seconds"] = 1
    document["lake"]["lifecycle_run_attempts"] = 3
    document["lake"]["lifecycle_retry_backoff"] = "1s"
    document["lake"]["abort_after_stall_windows"] = 3  # 4 s windows: aborted at 12 s behind
    for sequencer in document["sequencers"]:
        sequencer["stall_window"] = "4s"
    lims = next(c for c in document["consumers"] if c["name"] == "lims")
    lims["event_types"] = [
        "run.started",
        "run.copy_complete",
        "run.completed",
        "run.incomplete",
        "run.needs_attention",
    ]


def _lake_document(document: dict) -> None:
    _timings(document)
    lab_b = next(g for g in document["gateways"] if g["id"] == "gw-b")
    lab_b["id"], lab_b["arn"] = "lab-b", LAB_B_ARN
    document["gateways"].append(
        {
            "id": "gw-c",
            "site": "madison",
            "ip": "10.30.1.13",
            "cache": "8 TiB",
            "smb": {"authentication": "GuestAccess"},
            "arn": UNLISTED_ARN,
        }
    )
    for sequencer in document["sequencers"]:
        if sequencer["gateway"] == "gw-b":
            sequencer["gateway"] = "lab-b"


@pytest.fixture(scope="module")
def lake(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    work = tmp_path_factory.mktemp("gateway-isolation")
    gateway_config = edited_config(work, SMALL_CONFIG, _timings, "gateway.yaml")
    lake_config = edited_config(work, SMALL_CONFIG, _lake_document, "lake.yaml")
    with module_lake(moto_server, work, lake_config, gateway_config) as lake:
        yield lake


def _tick(lake: Lake):
    return run_tick(lake.clients, lake.config, lambda key: [])


def _received(lake: Lake) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for message in lake.consumer_messages("lims"):
        body = json.loads(message["Body"])
        key = body["run"]["run_key"]
        out.setdefault(key, []).append(body["message_id"].removeprefix(f"{key}#"))
    return out


def _incomplete(lake: Lake, run_key: str) -> None:
    """A run whose verification failed and whose retry is due now."""
    lake.start_run(run_key, datetime.now(UTC))
    ledger = lake.ledger()
    for trigger in (Trigger.MARKER, Trigger.UPLOAD_CONFIRMED):
        ledger.apply(ledger.require_run(run_key), trigger)
    ledger.apply(
        ledger.require_run(run_key),
        Trigger.VERIFICATION_FAILED,
        fields={"retry_after": datetime.now(UTC) - timedelta(minutes=1), "final": False},
        details={"missing_count": 1},
    )


def test_a_retired_share_puts_its_run_in_needs_attention_and_the_tick_goes_on(lake):
    retired = "MIS-MAD-01/261130_M00123_0042_000000000-RETIR"
    healthy = "NVX-MAD-01/20261130_LH00123_0042_A22HEALTH3"
    _incomplete(lake, retired)
    _incomplete(lake, healthy)
    # The documented sequencer move: the old share is deleted on the gateway.
    lake.gateway.client().delete_file_share(
        FileShareARN=lake.share("MIS-MAD-01")["share_arn"], ForceDelete=True
    )
    plan = _tick(lake)  # returns: NotifyWhenUploaded's FileShareNotFound is the run's alone
    runs = lake.ledger().get_runs([retired, healthy])
    assert runs[healthy].state == RunState.MARKER_SEEN and runs[healthy].notification_id
    assert runs[retired].state == RunState.NEEDS_ATTENTION
    assert runs[retired].attention_from == RunState.INCOMPLETE
    assert "NotifyWhenUploaded failed 1 time(s): FileShareNotFound" in (
        runs[retired].attention_reason or ""
    )
    assert any(p.startswith(retired) and "FileShareNotFound" in p for p in plan.gateway_problems)
    # An operator's reverify of it gets one line naming the error, no traceback; the run stays.
    refused = lake.cli("runs", "reverify", retired)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "FileShareNotFound" in refused.stderr
    assert lake.ledger().require_run(retired).state == RunState.NEEDS_ATTENTION
    # The share's tags are gone with it: its messages go out with the ledger's own fields.
    received = _received(lake)  # read once: reading drains the consumer's queue
    assert received[retired] == [
        "run.started",
        "run.copy_complete",
        "run.incomplete#1",
        "run.needs_attention#1",
    ]
    assert received[healthy] == ["run.started", "run.copy_complete", "run.incomplete#1"]


def test_a_gateway_that_keeps_failing_puts_the_run_in_needs_attention_after_the_attempts(lake):
    run_key = "PRM-MAD-01/exp_down/sample_1/20261130_1500_1A_PAW55555_0badd00d"
    _incomplete(lake, run_key)
    RunAnnouncer(lake.clients, lake.names, lake.ledger()).publish_pending(run_key)
    lake.gateway.process.stop()
    try:  # lake.lifecycle_run_attempts: 3, a 1 s backoff doubling between them
        wait_for(
            lambda: (
                _tick(lake) and lake.ledger().require_run(run_key).state == RunState.NEEDS_ATTENTION
            ),
            timeout=60,
            interval=0.3,
            what="NEEDS_ATTENTION",
        )
    finally:
        lake.gateway.process.start().wait_ready(lambda: http_ok(f"{lake.gateway.endpoint}/health"))
    run = lake.ledger().require_run(run_key)
    assert run.attention_from == RunState.INCOMPLETE
    assert (run.attention_reason or "").startswith(
        "NotifyWhenUploaded failed 3 time(s): EndpointConnectionError"
    )
    shown = run_report(run, [], []).splitlines()  # what `ngs-lake runs show` prints
    assert any(
        line.startswith("gateway   NotifyWhenUploaded failed 3 time(s) in a row, last ")
        and ": EndpointConnectionError: " in line
        for line in shown
    ), shown


def test_a_gateway_that_does_not_answer_stalls_nothing_and_is_reported(lake):
    share = lake.share("NVX-MAD-01")  # on gw-a, a 4 s stall window
    quiet, busy = "20261130_LH00123_0050_A22QUIETX3", "20261130_LH00123_0051_A22BUSYXX3"
    behind = datetime.now(UTC) - timedelta(seconds=7)  # stalled, not aborted
    lake.gateway.process.stop()  # the API refuses connections
    try:
        lake.send_raw(
            [
                upload_event(share, f"{quiet}/RunInfo.xml", time=behind),
                upload_event(share, f"{busy}/RunInfo.xml"),  # gw-a's watermark: now
            ]
        )
        plan = _tick(lake)
        assert lake.ledger().require_run(f"NVX-MAD-01/{quiet}").state == RunState.STARTED
        assert any(p.startswith("gateway gw-a: ListGateways") for p in plan.gateway_problems)
    finally:
        lake.gateway.process.start().wait_ready(lambda: http_ok(f"{lake.gateway.endpoint}/health"))
    _tick(lake)  # answered again: the 7 s of silence are judged
    assert lake.ledger().require_run(f"NVX-MAD-01/{quiet}").state == RunState.STALLED


def test_a_marker_whose_notification_request_fails_is_kept_and_requested_again(lake):
    share = lake.share("PRM-MAD-01")  # on lab-b
    folder = "exp_marker/sample_1/20261130_1300_1A_PAW22222_0badcafe"
    run_key = f"PRM-MAD-01/{folder}"
    lake.gateway.process.stop()
    try:
        lake.send_raw(
            [
                upload_event(share, f"{folder}/pod5/batch_0.pod5"),
                upload_event(share, f"{folder}/final_summary_PAW22222_0badcafe_1a2b3c4d.txt"),
            ]
        )
        _tick(lake)
        run = lake.ledger().require_run(run_key)
        assert (run.state, run.notification_id) == (RunState.MARKER_SEEN, None)
        item = lake.moto.client("dynamodb").get_item(
            TableName=lake.names.runs_table, Key={"run_key": {"S": run_key}}
        )["Item"]
        failure = item["gateway_failure"]["M"]
        assert failure["call"]["S"] == "NotifyWhenUploaded"
        assert failure["code"]["S"] == "EndpointConnectionError"
    finally:
        lake.gateway.process.start().wait_ready(lambda: http_ok(f"{lake.gateway.endpoint}/health"))
    wait_for(
        lambda: _tick(lake) and lake.ledger().require_run(run_key).notification_id,
        timeout=30,
        interval=0.5,
        what="the owed notification requested",
    )
    run = lake.ledger().require_run(run_key)
    assert run.state in (RunState.MARKER_SEEN, RunState.UPLOAD_CONFIRMED, RunState.INCOMPLETE)


def test_a_gateway_with_an_arn_is_found_by_it_and_an_unlisted_one_is_reported(lake):
    share = lake.share("PRM-MAD-01")  # lab-b: gw-b on the API
    quiet, busy = "exp_q/s/20261130_1400_1A_PAW33333_0badf00d", "exp_b/s/20261130_1401_1A_PAW4"
    behind = datetime.now(UTC) - timedelta(seconds=7)  # stalled, not aborted
    lake.send_raw(
        [
            upload_event(share, f"{quiet}/pod5/batch_0.pod5", time=behind),
            upload_event(share, f"{busy}/pod5/batch_0.pod5"),
        ]
    )
    # A tick that starts runs hands them on before its queue is drained, so it judges no
    # silence (stalls are judged only on a drained queue); the next one does.
    _tick(lake)
    # A run judged against gw-c, whose ARN the API does not list, as silent as the first.
    unlisted = "PRM-MAD-01/exp_c/s/20261130_1402_1A_PAW66666_0badbeef"
    sequencer = lake.config.sequencer("PRM-MAD-01")
    lake.ledger().start_run(
        NewRun(
            run_key=unlisted,
            run_folder=unlisted.split("/", 1)[1],
            sequencer_id="PRM-MAD-01",
            platform=sequencer.platform,
            site="madison",
            lab="madison",
            timezone="America/Chicago",
            bucket=share["bucket"],
            share_arn=share["share_arn"],
            started_at=behind,
            gateway_id="gw-c",
        )
    )
    GatewayWatermarks(lake.clients, lake.names).advance({"gw-c": datetime.now(UTC)}, behind)
    plan = _tick(lake)
    # lab-b's cache is read by its ARN (clean): the 7 s of silence stall the run.
    assert lake.ledger().require_run(f"PRM-MAD-01/{quiet}").state == RunState.STALLED
    # gw-c's cache is unknown: its run's silence is not judged, and the tick says why.
    assert lake.ledger().require_run(unlisted).state == RunState.STARTED
    assert "gateway gw-c is not listed by the Storage Gateway API" in " ".join(
        plan.gateway_problems
    )
    configured = {g.id: g.arn for g in lake.config.gateways}
    ids = {b.gateway_id for b in cache_backlog(lake.gateway.client(), None, configured)}
    assert ids == {"gw-a", "lab-b"}
    state = AlertState(lake.clients, lake.names)
    evaluation = evaluate(lake.clients, lake.config, state, datetime.now(UTC))
    assert set(state.trends()) == {"gw-a", "lab-b"}  # both sampled, under the document's ids
    assert [u for u in evaluation.unreadable if "gw-c" in u] == [
        "gateway caches: gateway gw-c is not listed by the Storage Gateway API "
        "(matched by its configured arn, else by its name)"
    ]
    assert ("gateway_buffer_low", "gw-c") in evaluation.unjudged
    (unknown,) = [a for a in evaluation.alerts if a.condition == "gateway_unknown"]
    assert (unknown.subject, unknown.severity) == ("gw-c", "critical")


def test_gateways_are_matched_by_arn_where_the_document_gives_one_else_by_name():
    """ListGateways' response shape (GatewayInfo: GatewayARN, GatewayName); an appliance's name
    is whatever its operator typed, even another entry's id."""
    arn = "arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-{}"
    listed = [
        {"GatewayARN": arn.format("12A3456B"), "GatewayName": "gw-a"},
        {"GatewayARN": arn.format("23A4567C"), "GatewayName": "Madison appliance 2"},
        {"GatewayARN": arn.format("34A5678D"), "GatewayName": "lab-b"},  # not lab-b: its arn
        {"GatewayARN": arn.format("45A6789E")},  # no name at all
    ]
    configured = {"gw-a": None, "lab-b": arn.format("23A4567C"), "gw-c": arn.format("0000C0DE")}
    assert lake_gateway_ids(listed, configured) == {
        arn.format("12A3456B"): "gw-a",
        arn.format("23A4567C"): "lab-b",
    }
