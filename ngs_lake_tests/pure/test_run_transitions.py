"""The lifecycle's transition table, SNS's id rules and the retry policy: fast, no AWS.

Expected values are the lifecycle of ARCHITECTURE §1 and §6 and SNS's published limits
(https://docs.aws.amazon.com/sns/latest/api/API_Publish.html: ids of at most 128 characters).
"""

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ngs_lake.runs.model import (
    TRANSITIONS,
    Run,
    RunEventType,
    RunState,
    TransitionNotAllowed,
    Trigger,
    message_id,
    parse_iso,
    sns_deduplication_id,
    sns_group_id,
    transition_for,
    utc_iso,
)
from ngs_lake.runs.retries import (
    Attempt,
    AttemptStatus,
    RetryPolicy,
    Verdict,
    publish_verdict,
    retry_verdict,
)

S, E, T = RunState, RunEventType, Trigger
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "trigger", "target", "announces", "counter"),
    [
        (None, T.FIRST_FILE, S.STARTED, E.STARTED, None),
        (S.STARTED, T.MARKER, S.MARKER_SEEN, E.COPY_COMPLETE, None),
        (S.STALLED, T.MARKER, S.MARKER_SEEN, E.COPY_COMPLETE, None),
        (S.MARKER_SEEN, T.UPLOAD_CONFIRMED, S.UPLOAD_CONFIRMED, None, None),
        (S.UPLOAD_CONFIRMED, T.VERIFIED, S.COMPLETED, E.COMPLETED, None),
        (S.UPLOAD_CONFIRMED, T.VERIFICATION_FAILED, S.INCOMPLETE, E.INCOMPLETE, "verify_attempts"),
        (S.INCOMPLETE, T.RETRY, S.MARKER_SEEN, None, None),
        (S.MARKER_SEEN, T.UNCONFIRMED, S.MARKER_SEEN, None, None),  # asked again, no message
        (S.STARTED, T.SILENCE, S.STALLED, E.STALLED, "stalled_count"),
        (S.STALLED, T.ACTIVITY, S.STARTED, E.RESUMED, "resumed_count"),
        (S.STALLED, T.ABANDONED, S.ABORTED, E.ABORTED, None),
        (S.COMPLETED, T.LATE_FILES, S.COMPLETED, E.AMENDED, "amended_count"),
        (S.COMPLETED, T.GAVE_UP, S.NEEDS_ATTENTION, E.NEEDS_ATTENTION, "attention_count"),
        (S.UPLOAD_CONFIRMED, T.GAVE_UP, S.NEEDS_ATTENTION, E.NEEDS_ATTENTION, "attention_count"),
        (S.INCOMPLETE, T.OPERATOR_ABORT, S.ABORTED, E.ABORTED, None),
        (S.NEEDS_ATTENTION, T.OPERATOR_ABORT, S.ABORTED, E.ABORTED, None),
        (S.INCOMPLETE, T.OPERATOR_REVERIFY, S.MARKER_SEEN, None, None),
        (S.NEEDS_ATTENTION, T.OPERATOR_REVERIFY, S.MARKER_SEEN, None, None),
        (S.NEEDS_ATTENTION, T.OPERATOR_RETRY, None, None, None),  # back where it was
    ],
)
def test_each_row_of_the_table(state, trigger, target, announces, counter):
    row = transition_for(state, trigger)
    assert (row.target, row.announces, row.counter) == (target, announces, counter)


@pytest.mark.parametrize(
    ("state", "trigger"),
    [
        (S.COMPLETED, T.MARKER),  # a completed run never goes back
        (S.ABORTED, T.ACTIVITY),
        (S.ABORTED, T.OPERATOR_ABORT),
        (S.COMPLETED, T.OPERATOR_ABORT),
        (S.STARTED, T.VERIFIED),  # verified only after the upload is confirmed
        (S.MARKER_SEEN, T.VERIFIED),
        (S.STARTED, T.FIRST_FILE),  # a run is created once
        (None, T.MARKER),
        (S.NEEDS_ATTENTION, T.GAVE_UP),
        (S.STARTED, T.OPERATOR_RETRY),
        (S.STARTED, T.OPERATOR_REVERIFY),
        (S.MARKER_SEEN, T.SILENCE),
        (S.UPLOAD_CONFIRMED, T.UNCONFIRMED),  # asked again only while waiting
    ],
)
def test_steps_not_in_the_table_are_refused(state, trigger):
    with pytest.raises(TransitionNotAllowed) as refused:
        transition_for(state, trigger)
    assert str(refused.value) == f"no transition from {state or 'nothing'} on {trigger.value!r}"


def test_the_refusal_names_the_state_and_the_trigger():
    with pytest.raises(TransitionNotAllowed) as refused:
        transition_for(None, T.MARKER)
    assert str(refused.value) == "no transition from nothing on 'completion marker'"
    with pytest.raises(TransitionNotAllowed) as refused:
        transition_for(S.COMPLETED, T.MARKER)
    assert str(refused.value) == "no transition from COMPLETED on 'completion marker'"


def test_the_table_has_one_row_per_state_and_trigger():
    seen = set()
    for row in TRANSITIONS:
        for state in row.sources or {None}:
            assert (state, row.trigger) not in seen
            seen.add((state, row.trigger))
    assert len(TRANSITIONS) == 17  # issue #31 added the two sample sheet rows


def test_message_ids_and_the_sns_ids_made_from_them():
    key = "NVX-MAD-01/20231116_LH00123_0042_A22F7KLT4"
    assert message_id(key, E.NEEDS_ATTENTION, 2) == f"{key}#run.needs_attention#2"
    assert message_id(key, E.COMPLETED, 1) == f"{key}#run.completed"
    assert message_id(key, E.COMPLETED, 3) == f"{key}#run.completed#3"  # its third epoch
    mid = message_id(key, E.INCOMPLETE, 1)
    assert sns_deduplication_id(mid) == hashlib.sha256(mid.encode()).hexdigest()
    assert sns_group_id(key) == key
    at_limit = "K" * 128
    assert sns_group_id(at_limit) == at_limit
    over = "K" * 129
    assert sns_group_id(over) == hashlib.sha256(over.encode()).hexdigest()


def test_times_are_utc_iso_with_microseconds():
    moment = datetime(2026, 11, 30, 6, 0, 1, 5, tzinfo=UTC)
    assert utc_iso(moment) == "2026-11-30T06:00:01.000005Z"
    assert parse_iso("2026-11-30T06:00:01.000005Z") == moment
    berlin = datetime(2026, 11, 30, 7, 0, tzinfo=timezone(timedelta(hours=1)))
    assert utc_iso(berlin) == "2026-11-30T06:00:00.000000Z"  # converted, whatever the local zone
    assert parse_iso("2026-11-30T06:00:00Z").utcoffset() == timedelta(0)


def test_a_step_is_its_utc_time_or_none():
    run = _run(steps={"MARKER_SEEN": datetime(2026, 11, 30, 6, 0, tzinfo=UTC)})
    assert run.step_iso("MARKER_SEEN") == "2026-11-30T06:00:00.000000Z"
    assert run.step_iso("UPLOAD_CONFIRMED") is None


def _run(**fields):
    base = {
        "run_key": "K/F",
        "run_folder": "F",
        "state": S.STARTED,
        "sequencer_id": "K",
        "platform": "miseq",
        "site": "madison",
        "bucket": "b",
        "share_arn": "arn",
        "started_at": NOW,
        "last_activity_at": NOW,
    }
    return Run(**(base | fields))


def test_a_run_says_whether_it_owes_announcements_and_its_flowcell():
    assert _run(sequence=3, published_sequence=2).unpublished
    assert not _run(sequence=3, published_sequence=3).unpublished
    assert _run(metadata={"flowcell": "A22F7KLT4"}).flowcell == "A22F7KLT4"
    assert _run().flowcell is None
    assert _run(stalled_count=2).counter("stalled_count") == 2


@pytest.mark.parametrize(
    ("attempts", "verdict"),
    [
        ([], Verdict.REQUEST),
        ([Attempt(AttemptStatus.IN_FLIGHT)], Verdict.WAIT),
        ([Attempt(AttemptStatus.FAILED, NOW - timedelta(seconds=29))], Verdict.WAIT),
        ([Attempt(AttemptStatus.FAILED, NOW - timedelta(seconds=30))], Verdict.REQUEST),
        ([Attempt(AttemptStatus.FAILED, NOW - timedelta(seconds=31))] * 2, Verdict.WAIT),  # 60 s
        ([Attempt(AttemptStatus.FAILED, NOW - timedelta(seconds=60))] * 2, Verdict.REQUEST),
        ([Attempt(AttemptStatus.FAILED, NOW - timedelta(days=1))] * 5, Verdict.GIVE_UP),
        ([Attempt(AttemptStatus.FAILED, NOW - timedelta(days=1))] * 4, Verdict.REQUEST),
        ([Attempt(AttemptStatus.SUCCEEDED, NOW)], Verdict.DONE),  # never requested again
        ([Attempt(AttemptStatus.FAILED, NOW), Attempt(AttemptStatus.SUCCEEDED, NOW)], Verdict.DONE),
    ],
)
def test_a_failed_lifecycle_run_is_retried_with_doubling_backoff_then_given_up(attempts, verdict):
    assert retry_verdict(attempts, RetryPolicy(attempts=5, backoff_seconds=30), NOW) == verdict


def _publish_schedule(policy: RetryPolicy, tick_seconds: int = 5) -> list[float]:
    """Seconds after the first failed Publish at which each later attempt is made, when every
    attempt fails and the sensor ticks every `tick_seconds`."""
    first = last = NOW
    at = [0.0]
    failures = 1
    now = NOW
    while failures < policy.attempts + 1:
        now += timedelta(seconds=tick_seconds)
        verdict = publish_verdict(failures, first, last, policy, now)
        if verdict == Verdict.GIVE_UP:
            return at
        if verdict == Verdict.REQUEST:
            at.append((now - first).total_seconds())
            last, failures = now, failures + 1
    raise AssertionError("never gave up")


@pytest.mark.parametrize("backoff_seconds", [1.0, 30.0, 300.0, 3600.0])
def test_every_publish_retry_comes_inside_snss_five_minute_dedup_window(backoff_seconds):
    """https://docs.aws.amazon.com/sns/latest/dg/fifo-message-dedup.html: a repeat of a dedup
    id within 5 minutes is dropped. A Publish whose answer was lost may have been taken, so
    every retry the lake schedules is due by 3.5 minutes after the first (the rest is for the
    tick's own time), the first on the next tick, and the attempts stay bounded."""
    policy = RetryPolicy(attempts=5, backoff_seconds=backoff_seconds)
    schedule = _publish_schedule(policy)
    assert len(schedule) == policy.attempts
    assert schedule[1] == 5  # the next tick is the retry
    assert all(at <= 210 for at in schedule)
    assert schedule == sorted(set(schedule))


def test_the_default_publish_schedule_backs_off_within_the_window():
    assert _publish_schedule(RetryPolicy(attempts=5, backoff_seconds=30)) == [0, 5, 35, 95, 210]
