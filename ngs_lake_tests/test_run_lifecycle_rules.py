"""The run lifecycle's rules under the delivery orders AWS really produces (issue #30): a
redelivered event changes nothing, stalls are judged in event time only on a drained queue and
against a watermark a fast gateway clock cannot run away with, last activity is durable before
its messages are deleted, markers and confirmations are never dropped, and a confirmation is
matched on one clock.

Against the moto server and the gateway process; state is read through boto3. `LaggingIndex`
plays AWS's eventually consistent by-state index, which moto's (always consistent) does not.
"""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from ngs_lake.alerts.sources import evaluate
from ngs_lake.alerts.state import AlertState
from ngs_lake.aws.storage_gateway import StorageGatewayShares
from ngs_lake.runs.events import UploadNotification
from ngs_lake.runs.ingest import GatewayEventIngest, IngestSettings, MarkerSeen
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.lifecycle import RunProgress
from ngs_lake.runs.model import RunState, Trigger
from ngs_lake.runs.tick import run_tick
from ngs_lake.runs.watermarks import Watermark
from ngs_lake_tests.fault_proxy import FaultProxy
from ngs_lake_tests.lake_fixtures import upload_event
from ngs_lake_tests.test_gateway_uploads import wait_for
from ngs_lake_tests.test_run_promises import _proxied_clients

FAST = IngestSettings(budget_seconds=20, wait_seconds=0, flush_every=50)
NOVASEQ = "20261130_LH00123_0200_A22RULEXT3"
NOW = datetime.now(UTC).replace(microsecond=0)


class LaggingIndex(RunLedger):
    """A ledger whose by-state reads answer from a snapshot taken at `freeze`: AWS's global
    secondary indexes are eventually consistent, so a Query can return a run as it was.
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Reads
    """

    snapshot: dict[RunState, list] | None = None

    def freeze(self) -> None:
        self.snapshot = {state: RunLedger.runs_in_state(self, state) for state in RunState}

    def runs_in_state(self, state, active_since=None):
        if self.snapshot is None:
            return super().runs_in_state(state, active_since)
        return list(self.snapshot[state])


def _progress(lake, ledger=None) -> RunProgress:
    return RunProgress(ledger or lake.ledger(), StorageGatewayShares(lake.clients.storagegateway()))


def _drain(lake, progress, clients=None):
    ingest = GatewayEventIngest(
        clients or lake.clients, lake.names, progress.ledger, FAST, progress=progress
    )
    return ingest.drain()


def _tick(lake, settings=FAST):
    return run_tick(lake.clients, lake.config, lambda key: [], settings=settings)


def _steps(lake, run_key):
    return set(lake.ledger().require_run(run_key).steps)


# Defect 2: late means new to the ledger


def test_a_redelivered_event_makes_no_amendment(lake):
    share, run_key = lake.share("NVX-MAD-01"), f"NVX-MAD-01/{NOVASEQ}"
    first = upload_event(share, f"{NOVASEQ}/RunInfo.xml", event_id="evt-runinfo")
    lake.send_raw([first, upload_event(share, f"{NOVASEQ}/RunParameters.xml")])
    progress = _progress(lake)
    _drain(lake, progress)
    ledger = progress.ledger
    for trigger in (Trigger.MARKER, Trigger.UPLOAD_CONFIRMED, Trigger.VERIFIED):
        ledger.apply(ledger.require_run(run_key), trigger)
    lake.send_raw([first])  # a failed delete, a crash before it, an EventBridge duplicate
    _drain(lake, progress)
    run = ledger.require_run(run_key)
    assert (run.state, run.amended_count, run.sequence) == (RunState.COMPLETED, 0, 3)
    lake.send_raw([first, upload_event(share, f"{NOVASEQ}/SampleSheet.csv")])  # one new file
    _drain(lake, progress)
    run = ledger.require_run(run_key)
    assert run.amended_count == 1
    assert ledger.log.amendment(run_key, 1) == ["SampleSheet.csv"]


def test_old_events_for_a_stalled_run_make_no_resume(lake):
    share, run_key = lake.share("NVX-MAD-01"), f"NVX-MAD-01/{NOVASEQ}"
    start = NOW - timedelta(hours=1)
    old = upload_event(share, f"{NOVASEQ}/RunInfo.xml", time=start)
    lake.send_raw(
        [
            old,
            upload_event(share, f"{NOVASEQ}/RunParameters.xml", time=start + timedelta(minutes=10)),
        ]
    )
    progress = _progress(lake)
    _drain(lake, progress)
    progress.ledger.apply(progress.ledger.require_run(run_key), Trigger.SILENCE)
    # the same event again, and a file written before the last activity, delivered late
    late_write = upload_event(
        share, f"{NOVASEQ}/InterOp/RunInfo.bin", time=start + timedelta(minutes=5)
    )
    lake.send_raw([old, late_write])
    _drain(lake, progress)
    run = progress.ledger.require_run(run_key)
    assert (run.state, run.resumed_count) == (RunState.STALLED, 0)
    lake.send_raw([upload_event(share, f"{NOVASEQ}/InterOp/QMetricsOut.bin", time=NOW)])
    _drain(lake, progress)
    run = progress.ledger.require_run(run_key)
    assert (run.state, run.resumed_count) == (RunState.STARTED, 1)  # files again, in event time


# Defect 3: stalls judged in event time, on a drained queue, against a bounded watermark


def test_an_event_ahead_of_a_backlog_stalls_and_aborts_no_live_run(lake):
    share = lake.share("PRM-MAD-01")  # gw-b: a 4 s stall window, aborted after 3 windows
    live = "exp_live/sample_1/20261130_1200_1A_PAW20001_0badc0de"
    ahead = "exp_ahead/sample_1/20261130_1200_1A_PAW20002_0badc0de"
    start = NOW - timedelta(minutes=5)
    lake.send_raw([upload_event(share, f"{live}/pod5/batch_0.pod5", time=start)])
    _tick(lake)
    # After an outage the queue hands out an event from the end of the backlog first.
    newest = start + timedelta(seconds=100)
    lake.send_raw(
        [upload_event(share, f"{ahead}/pod5/batch_{i}.pod5", time=newest) for i in range(10)]
        + [upload_event(share, f"{live}/pod5/batch_1.pod5", time=newest - timedelta(seconds=1))]
    )
    first = _tick(lake, IngestSettings(budget_seconds=20, wait_seconds=0, max_messages=10))
    assert first.report.received == 10  # ended on the message cap: the backlog is not drained
    for _ in range(2):
        _tick(lake)
    run = lake.ledger().require_run(f"PRM-MAD-01/{live}")
    assert run.state == RunState.STARTED
    assert not {"STALLED", "ABORTED"} & set(run.steps)
    # Real abandonment is still judged: the live run falls silent while its gateway goes on.
    lake.send_raw(
        [upload_event(share, f"{ahead}/pod5/batch_20.pod5", time=newest + timedelta(seconds=60))]
    )
    assert _tick(lake).report.drained
    assert lake.ledger().require_run(f"PRM-MAD-01/{live}").state == RunState.ABORTED


def test_a_tick_that_died_holding_messages_holds_back_every_stall(lake):
    share = lake.share("PRM-MAD-01")
    held = "exp_held/sample_1/20261130_1200_1A_PAW20004_0badc0de"
    other = "exp_other/sample_1/20261130_1200_1A_PAW20005_0badc0de"
    start = NOW - timedelta(minutes=5)
    lake.send_raw([upload_event(share, f"{held}/pod5/batch_0.pod5", time=start)])
    _tick(lake)
    lake.send_raw(
        [upload_event(share, f"{held}/pod5/batch_1.pod5", time=start + timedelta(seconds=100))]
    )
    with FaultProxy(int(lake.moto.endpoint.rsplit(":", 1)[1])) as proxy:
        proxy.faults.set("BatchWriteItem", "fail")  # the tick dies before its ledger writes
        with pytest.raises(ClientError):
            run_tick(_proxied_clients(proxy, lake), lake.config, lambda key: [], settings=FAST)
    # The held run's newest file is now hidden in the queue for its visibility timeout.
    lake.send_raw(
        [upload_event(share, f"{other}/pod5/batch_0.pod5", time=start + timedelta(seconds=101))]
    )
    reports = [_tick(lake).report for _ in range(2)]
    assert reports[-1].received == 0 and not reports[-1].drained  # empty, yet not drained
    run = lake.ledger().require_run(f"PRM-MAD-01/{held}")
    assert run.state == RunState.STARTED
    assert not {"STALLED", "ABORTED"} & set(run.steps)


def test_a_gateway_clock_ahead_stalls_none_of_its_runs(lake):
    share = lake.share("NVX-MAD-01")  # gw-a: a 2 h stall window, aborted after 3 windows
    lake.send_raw([upload_event(share, f"{NOVASEQ}/RunInfo.xml")])
    _tick(lake)
    other = "20261130_LH00123_0201_A22AHEADXT"
    lake.send_raw([upload_event(share, f"{other}/RunInfo.xml", time=NOW + timedelta(days=1))])
    for _ in range(3):
        _tick(lake)
    assert not {"STALLED", "ABORTED"} & _steps(lake, f"NVX-MAD-01/{NOVASEQ}")
    item = lake.moto.client("dynamodb").get_item(
        TableName=lake.names.gateways_table, Key={"gateway_id": {"S": "gw-a"}}
    )["Item"]
    watermark = datetime.fromisoformat(item["event_time"]["S"])
    assert watermark < NOW + timedelta(hours=1)  # bounded by when the lake took it in


# Defect 13: last activity before the deletes, and silence conditioned on what was read


def test_last_activity_is_in_the_ledger_before_its_message_is_deleted(lake):
    share, run_key = lake.share("NVX-MAD-01"), f"NVX-MAD-01/{NOVASEQ}"
    start = NOW - timedelta(minutes=10)
    lake.send_raw([upload_event(share, f"{NOVASEQ}/RunInfo.xml", time=start)])
    _drain(lake, _progress(lake))
    lake.send_raw(
        [upload_event(share, f"{NOVASEQ}/RunParameters.xml", time=start + timedelta(minutes=5))]
    )
    with FaultProxy(int(lake.moto.endpoint.rsplit(":", 1)[1])) as proxy:
        proxy.faults.set("DeleteMessageBatch", "fail")  # the tick dies at the deletes
        with pytest.raises(ClientError):
            _drain(lake, _progress(lake), _proxied_clients(proxy, lake))
    assert lake.ledger().require_run(run_key).last_activity_at == start + timedelta(minutes=5)


def test_a_run_active_since_its_silence_was_read_is_not_stalled(lake):
    run_key = "PRM-MAD-01/exp_busy/sample_1/20261130_1200_1A_PAW20003_0badc0de"
    start = NOW - timedelta(minutes=1)
    lake.start_run(run_key, start)
    ledger = LaggingIndex(lake.clients, lake.names)
    ledger.freeze()  # the stall pass reads the run as last active at `start`...
    lake.ledger().touch({run_key: NOW})  # ...and a file arrives before it writes
    mark = Watermark("gw-b", start + timedelta(seconds=30), NOW)
    _progress(lake, ledger).detect_stalls(lambda s: 4.0, 3, {"gw-b": mark}, lambda r: "gw-b")
    run = lake.ledger().require_run(run_key)
    assert (run.state, run.last_activity_at) == (RunState.STARTED, NOW)


# Defect 4: markers and confirmations are never dropped


def test_a_marker_for_a_run_needing_attention_is_kept_and_acted_on_after_retry(lake):
    share, run_key = lake.share("NVX-MAD-01"), f"NVX-MAD-01/{NOVASEQ}"
    lake.start_run(run_key, NOW - timedelta(minutes=5))
    ledger = lake.ledger()
    ledger.apply(ledger.require_run(run_key), Trigger.GAVE_UP)  # run.started never published
    lake.send_raw([upload_event(share, f"{NOVASEQ}/CopyComplete.txt")])
    _tick(lake)
    run = ledger.require_run(run_key)
    assert (run.state, run.marker_key) == (RunState.NEEDS_ATTENTION, "CopyComplete.txt")
    ledger.apply(run, Trigger.OPERATOR_RETRY)  # `runs retry`: back to STARTED
    _tick(lake)
    run = ledger.require_run(run_key)
    assert run.state == RunState.MARKER_SEEN and run.notification_id


def test_a_confirmation_is_matched_when_the_state_index_lags(lake):
    share, run_key = lake.share("NVX-MAD-01"), f"NVX-MAD-01/{NOVASEQ}"
    lake.start_run(run_key, NOW - timedelta(minutes=5))
    lagging = LaggingIndex(lake.clients, lake.names)
    lagging.freeze()  # the index still shows the run STARTED
    lake.send_raw([upload_event(share, f"{NOVASEQ}/CopyComplete.txt")])
    _tick(lake)  # the marker: MARKER_SEEN, NotifyWhenUploaded asked
    assert lake.ledger().require_run(run_key).state == RunState.MARKER_SEEN
    progress = _progress(lake, lagging)
    heard = []

    def notification_taken():
        heard.extend(_drain(lake, progress).notifications)
        return heard

    wait_for(notification_taken, timeout=30, what="the gateway's upload notification")
    assert lake.ledger().require_run(run_key).state == RunState.UPLOAD_CONFIRMED


# Defect 12: one clock


def test_a_confirmation_never_compares_the_lakes_clock_with_the_gateways(lake):
    share = lake.share("NVX-MAD-01")
    first, second = (f"NVX-MAD-01/20261130_LH00123_020{i}_A22CLOCKXT" for i in (5, 6))
    progress = _progress(lake)
    for run_key in (first, second):  # `first` asks the gateway before `second`
        lake.start_run(run_key, NOW - timedelta(minutes=5))
        progress.on_markers(
            [MarkerSeen(run_key, share["share_arn"], "CopyComplete.txt", str(uuid.uuid4()), NOW)]
        )
    asked = lake.ledger().get_runs([first, second])
    # The gateway answers `first`'s request, its clock an hour ahead of the lake's: that
    # request came before `second`'s, so it cannot vouch for `second`'s files.
    note = UploadNotification(
        event_id=str(uuid.uuid4()),
        time=NOW + timedelta(hours=1),
        share_arn=share["share_arn"],
        notification_id=asked[first].notification_id,
        request_received=NOW + timedelta(hours=1),
        completed=NOW + timedelta(hours=1),
    )
    assert progress.on_notifications([note]) == [first]
    states = {k: r.state for k, r in lake.ledger().get_runs([first, second]).items()}
    assert states == {first: RunState.UPLOAD_CONFIRMED, second: RunState.MARKER_SEEN}


# The MARKER_SEEN window: asked again, a bounded number of times, then alerted


def test_an_unconfirmed_run_is_asked_again_then_alerted_once(lake):
    run_key = f"NVX-MAD-01/{NOVASEQ}"
    lake.start_run(run_key, NOW - timedelta(hours=2))
    ledger = lake.ledger()
    asked_at = NOW - timedelta(minutes=90)  # its confirmation was lost
    fields = {
        "marker_key": "CopyComplete.txt",
        "notification_id": "lost",
        "notification_requested_at": asked_at,
    }
    ledger.apply(ledger.require_run(run_key), Trigger.MARKER, fields=fields)
    window = lake.config.lake.upload_confirmation_window
    assert window == 3600  # the default: an hour
    progress = _progress(lake)
    assert progress.ask_again_unconfirmed(window, NOW) == [run_key]
    assert progress.ask_again_unconfirmed(window, NOW) == []  # next due at 2 windows
    run = ledger.require_run(run_key)
    assert (run.notify_requests, run.notification_requested_at) == (2, asked_at)
    assert run.notification_id != "lost"
    later = [asked_at + timedelta(hours=h, seconds=1) for h in (2, 3, 4, 5)]
    asked = [progress.ask_again_unconfirmed(window, moment) for moment in later]
    assert asked == [[run_key], [run_key], [], []]  # four requests in all, then no more
    alerts = {
        a.condition: a
        for a in evaluate(
            lake.clients, lake.config, AlertState(lake.clients, lake.names), later[-1]
        ).alerts
    }
    alert = alerts["upload_unconfirmed"]
    assert alert.subject == run_key
    assert alert.began_at == asked_at + timedelta(hours=4)
    assert "NotifyWhenUploaded" in alert.summary
    assert lake.share("NVX-MAD-01")["share_arn"] in alert.summary


def test_runs_reverify_records_its_request_so_the_answer_is_matched(lake):
    run_key = f"NVX-MAD-01/{NOVASEQ}"
    lake.start_run(run_key, NOW - timedelta(hours=2))
    ledger = lake.ledger()
    for trigger in (Trigger.MARKER, Trigger.UPLOAD_CONFIRMED, Trigger.VERIFICATION_FAILED):
        ledger.apply(ledger.require_run(run_key), trigger)
    done = lake.cli("runs", "reverify", run_key)
    assert done.returncode == 0, done.stderr
    run = ledger.require_run(run_key)
    assert (run.state, run.notify_requests) == (RunState.MARKER_SEEN, 1)
    assert f"(notification {run.notification_id})" in done.stdout
    request = _progress(lake).requests.find(run.notification_id)
    assert (request.run_key, request.requested_at) == (run_key, run.notification_requested_at)
