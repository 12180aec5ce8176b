"""The alert conditions and messages, judged from plain figures (ngs_lake/alerts/conditions.py,
messages.py), and the document's `alerts:` section. Sending them is tested against moto and a
real daemon in test_alerts.py and test_alert_state.py."""

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from ngs_lake.alerts.conditions import (
    AuditCheck,
    BacklogTrend,
    audit_findings,
    backlog_findings,
    buffer_findings,
    dlq_findings,
    next_trend,
    run_findings,
    silent_gateway_findings,
    unconfirmed_upload_findings,
    unknown_gateway_findings,
)
from ngs_lake.alerts.messages import email_subject, message_body, publish_request
from ngs_lake.capacity.figures import gateway_capacity
from ngs_lake.config.document import parse_lake_document
from ngs_lake.config.model import LakeConfigError
from ngs_lake.runs.model import Run, RunState
from ngs_lake_tests.pure.lake_document import LAKE

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def minimal_document() -> dict:
    return copy.deepcopy(LAKE)


def _run(state: RunState, **fields) -> Run:
    return Run(
        run_key=f"NVX-MAD-01/RUN_{state.value}",
        run_folder=f"RUN_{state.value}",
        state=state,
        sequencer_id="NVX-MAD-01",
        platform="novaseq-x",
        site="madison",
        bucket="b",
        share_arn="arn:share",
        started_at=NOW - timedelta(hours=5),
        last_activity_at=NOW - timedelta(hours=2),
        steps={state.value: NOW - timedelta(hours=1)},
        **fields,
    )


def test_runs_in_stalled_incomplete_or_needs_attention_each_alert_from_when_they_got_there():
    runs = [_run(s) for s in RunState]
    alerts = {a.condition: a for a in run_findings(runs)}
    assert set(alerts) == {"run_stalled", "run_incomplete", "run_needs_attention"}
    stalled = alerts["run_stalled"]
    assert stalled.subject == "NVX-MAD-01/RUN_STALLED"
    assert stalled.began_at == NOW - timedelta(hours=1)
    assert stalled.command == "ngs-lake runs show NVX-MAD-01/RUN_STALLED"
    assert alerts["run_needs_attention"].severity == "critical"
    assert alerts["run_incomplete"].severity == "warning"  # retries left
    (final,) = run_findings([_run(RunState.INCOMPLETE, final=True)])
    assert final.severity == "critical"


def test_a_run_past_its_marker_alerts_once_its_requests_windows_pass_unconfirmed():
    asked = NOW - timedelta(hours=4)
    waiting = _run(
        RunState.MARKER_SEEN,
        notification_requested_at=asked,
        notification_id="n-4",
        notify_requests=4,
    )
    (alert,) = unconfirmed_upload_findings([waiting], 3600, 4, NOW)
    assert (alert.condition, alert.subject) == ("upload_unconfirmed", waiting.run_key)
    assert alert.began_at == asked + timedelta(hours=4)  # stable: one alert id per wait
    assert alert.summary == (
        f"run {waiting.run_key} has waited since 2026-11-30T08:00:00.000000Z for the gateway to "
        "confirm its upload (NotifyWhenUploaded on share arn:share, asked 4 time(s), last "
        "notification n-4); its files may still be in the gateway's cache"
    )
    assert alert.command == f"ngs-lake runs show {waiting.run_key}"
    assert unconfirmed_upload_findings([waiting], 3600, 4, NOW - timedelta(seconds=1)) == []
    confirmed = _run(RunState.UPLOAD_CONFIRMED, notification_requested_at=asked)
    assert unconfirmed_upload_findings([confirmed], 3600, 4, NOW) == []


def test_the_confirmation_window_must_outlast_the_gateways_settling_time():
    document = minimal_document()
    assert parse_lake_document(document).lake.upload_confirmation_window == 3600
    document["lake"] |= {"settling_time_seconds": 60, "upload_confirmation_window": "1m"}
    with pytest.raises(LakeConfigError) as raised:
        parse_lake_document(document)
    assert (
        "upload_confirmation_window: 60 s is not longer than settling_time_seconds (60 s), which "
        "the gateway waits before it confirms an upload; make the window longer"
    ) in "\n".join(raised.value.problems)
    document["lake"]["upload_confirmation_window"] = "2m"
    assert parse_lake_document(document).lake.upload_confirmation_window == 120


def test_a_gateway_is_silent_from_its_silence_window_on_and_unheard_gateways_are_not_judged():
    heard = {"gw-a": NOW - timedelta(seconds=100), "gw-b": NOW - timedelta(seconds=99)}
    (alert,) = silent_gateway_findings(heard, ["gw-a", "gw-b", "gw-c"], 100, NOW)
    assert (alert.subject, alert.began_at) == ("gw-a", NOW - timedelta(seconds=100))


def test_a_dead_letter_queue_alerts_once_its_oldest_message_passes_the_age():
    times = [NOW - timedelta(seconds=s) for s in (5, 30, 61)]
    (alert,) = dlq_findings({"dlq": times, "other": times[:2]}, 60, NOW)
    assert alert.subject == "dlq"
    assert alert.began_at == NOW - timedelta(seconds=1)  # 61 s old, over 60 s since a second
    assert dlq_findings({"dlq": times[:2]}, 60, NOW) == []


def _capacity():
    # 1 GB cache, one sequencer at 1,984,126 B/h: 21.00001 days, 496 bytes above the target
    document = minimal_document()
    document["gateways"][0]["cache"] = "1 GB"
    document["sequencers"] = [document["sequencers"][0] | {"data_rate": "1984126 B/h"}]
    config = parse_lake_document(document)
    return config, gateway_capacity(config)


def test_a_gateway_buffer_counts_its_waiting_bytes_and_the_smaller_cache():
    config, capacities = _capacity()
    gateway = config.gateways[0].id
    assert buffer_findings(capacities, {gateway: (10**9, 496)}, NOW) == []
    (alert,) = buffer_findings(capacities, {gateway: (10**9, 497)}, NOW)
    assert alert.subject == gateway == "gw-a" and alert.condition == "gateway_buffer_low"
    assert len(buffer_findings(capacities, {gateway: (10**9 - 497, 0)}, NOW)) == 1
    assert buffer_findings(capacities, {}, NOW) == []  # not reported: not judged


def test_a_backlog_alerts_when_it_has_not_shrunk_for_the_window_and_grew():
    trend = None
    for second, dirty in ((0, 100), (2, 300), (4, 300), (6, 700)):
        trend = next_trend(trend, "gw-c", dirty, NOW + timedelta(seconds=second))
    assert trend == BacklogTrend("gw-c", NOW, 100, 700)
    assert backlog_findings([trend], 7, NOW + timedelta(seconds=6)) == []
    (alert,) = backlog_findings([trend], 6, NOW + timedelta(seconds=6))
    assert alert.began_at == NOW
    shrunk = next_trend(trend, "gw-c", 600, NOW + timedelta(seconds=8))
    assert shrunk == BacklogTrend("gw-c", NOW + timedelta(seconds=8), 600, 600)
    assert backlog_findings([shrunk], 6, NOW + timedelta(seconds=60)) == []  # flat: not growing


def test_a_failed_audit_check_alerts_with_its_dagster_severity():
    checks = [
        AuditCheck("every_object_locked", False, "ERROR", "3 objects", NOW),
        AuditCheck("report_fresh", False, "WARN", "1 bucket stale", NOW),
        AuditCheck("every_object_encrypted", True, "ERROR", "ok", NOW),
    ]
    alerts = {a.subject: a.severity for a in audit_findings(checks)}
    assert alerts == {
        "inventory_catalog/every_object_locked": "critical",
        "inventory_catalog/report_fresh": "warning",
    }


def test_a_message_names_subject_condition_start_and_command_for_each_protocol():
    (alert,) = run_findings([_run(RunState.STALLED)])
    request = publish_request("arn:topic", alert, "alert", "small-lake")
    per_protocol = json.loads(request["Message"])
    body = json.loads(per_protocol["sqs"])
    assert body == json.loads(per_protocol["https"])
    assert body["subject"] == "NVX-MAD-01/RUN_STALLED"
    assert body["began_at"] == "2026-11-30T11:00:00.000000Z"
    assert body["alert_id"] == "run_stalled/NVX-MAD-01/RUN_STALLED/2026-11-30T11:00:00.000000Z"
    for text in (per_protocol["email"], per_protocol["default"]):
        assert "ngs-lake runs show NVX-MAD-01/RUN_STALLED" in text
        assert "began at 2026-11-30T11:00:00.000000Z" in text
    assert {k: v["StringValue"] for k, v in request["MessageAttributes"].items()} == {
        "condition": "run_stalled",
        "severity": "warning",
        "status": "alert",
        "alert_id": body["alert_id"],
    }


def test_an_email_subject_is_ascii_on_one_line_and_under_100_characters():
    (alert,) = run_findings([_run(RunState.STALLED)])
    long = alert.__class__(**{**alert.__dict__, "subject": "Ü\n" + "x" * 200})
    subject = email_subject(message_body(long, "alert", "small-lake", None))
    assert len(subject) < 100 and subject.isascii() and "\n" not in subject


def test_the_alerts_section_takes_windows_in_seconds_and_refuses_a_mistyped_subscriber():
    document = minimal_document() | {
        "alerts": {
            "dlq_message_age": "3s",
            "subscriptions": [
                {"protocol": "email", "endpoint": "ops@lab.example", "severities": ["critical"]},
                {"protocol": "sqs", "endpoint": "https://sqs.example/queue"},
                {"protocol": "https", "endpoint": "https://chat.example/hook"},
                {"protocol": "https", "endpoint": "https://chat.example/hook"},
                {"protocol": "email", "endpoint": "ops@lab.example", "conditions": ["run_lost"]},
            ],
        }
    }
    with pytest.raises(LakeConfigError) as raised:
        parse_lake_document(document)
    problems = "\n".join(raised.value.problems)
    assert "alerts.subscriptions[1]: endpoint 'https://sqs.example/queue' is not an SQS queue" in (
        problems
    )
    assert "unknown alert condition 'run_lost'" in problems
    assert "2 entries subscribe https 'https://chat.example/hook'" in problems
    del document["alerts"]["subscriptions"][1:]
    config = parse_lake_document(document)
    assert config.alerts.dlq_message_age == 3
    assert parse_lake_document(minimal_document()).alerts.subscriptions == ()


def test_an_unknown_gateway_is_a_critical_alert_naming_why():
    why = {"gw-c": "not listed", "gw-a": "DescribeCache: GatewayNotConnected: offline"}
    alerts = unknown_gateway_findings(why, NOW)
    assert [(a.condition, a.subject, a.severity, a.began_at) for a in alerts] == [
        ("gateway_unknown", "gw-a", "critical", NOW),
        ("gateway_unknown", "gw-c", "critical", NOW),
    ]
    assert "(DescribeCache: GatewayNotConnected: offline)" in alerts[0].summary
    assert {a.command for a in alerts} == {"ngs-lake status"}
    assert unknown_gateway_findings({}, NOW) == []
