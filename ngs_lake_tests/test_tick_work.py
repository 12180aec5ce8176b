"""The tick's work list and its ends (issue #30, defects 1, 5, 7, 14, 15): every owed message is
published whatever the run's age, work that succeeded is never requested again, message ids
carry the run's epoch, publish retries stay inside SNS's deduplication window, and the run-log
migration takes the run's version like every transition.

Against the moto server and the gateway process, through the run core's own classes; messages
are read from the consumer queue, state through boto3.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from ngs_lake.orchestration.sequencing.assets import run_manifest
from ngs_lake.provisioning import apply_plan, plan_lake
from ngs_lake.runs.announcements import RunAnnouncer
from ngs_lake.runs.ingest import TickReport
from ngs_lake.runs.lifecycle import RunProgress
from ngs_lake.runs.model import RunState, Trigger
from ngs_lake.runs.retries import Attempt, AttemptStatus, RetryPolicy
from ngs_lake.runs.run_log_migration import migrate_run
from ngs_lake.runs.tick import Work, plan_after, run_tick
from ngs_lake_tests.test_completion import events_of
from ngs_lake_tests.test_ingest import FAST, resources_for

FIVE_DAYS_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
SNS_DEDUP_WINDOW = timedelta(
    minutes=5
)  # https://docs.aws.amazon.com/sns/latest/dg/fifo-message-dedup.html


def _no_attempts(key: str) -> list[Attempt]:
    return []


def _tick(lake, attempts=_no_attempts):
    return run_tick(lake.clients, lake.config, attempts, settings=FAST)


def _move(lake, run_key: str, *triggers: Trigger, **kwargs) -> None:
    ledger = lake.ledger()
    for trigger in triggers:
        ledger.apply(ledger.require_run(run_key), trigger, **kwargs)


def test_an_owed_message_of_a_run_silent_for_days_is_published(lake):
    """A silence-abort comes N stall windows after the run's last activity (for PacBio at least
    4 x 36 h): its `run.aborted` is owed all the same, and the tick publishes it."""
    run_key = "PRM-MAD-01/exp_old/sample_1/20261125_1200_1A_PAW22222_0ddba11"
    lake.start_run(run_key, FIVE_DAYS_AGO)  # last activity: five days ago
    RunAnnouncer(lake.clients, lake.names, lake.ledger()).publish_pending(run_key)
    _move(lake, run_key, Trigger.SILENCE, Trigger.ABANDONED)
    assert lake.ledger().require_run(run_key).state == RunState.ABORTED
    published = [a.message_id for a in _tick(lake).announced.published]
    assert published == [f"{run_key}#{t}" for t in ("run.stalled#1", "run.aborted")]
    assert events_of(lake, run_key) == ["run.started", "run.stalled#1", "run.aborted"]
    assert _tick(lake).announced.published == []  # owed nothing more
    owing = lake.moto.client("dynamodb").query(  # and a tick that owes nothing reads nothing
        TableName=lake.names.runs_table,
        IndexName="owing",
        KeyConditionExpression="owes_messages = :o",
        ExpressionAttributeValues={":o": {"S": "owed"}},
    )
    assert owing["Count"] == 0


def test_provisioning_marks_the_old_runs_that_owe_messages_so_the_tick_publishes_them(lake):
    """A lake upgraded before it is provisioned: its runs table has no `owing` index, and a run
    finished and silent for days still owes `run.aborted`. The tick goes on without the index
    (it does not stop); the provisioning plan adds the index and marks the run, and the next
    tick publishes it."""
    run_key = "NVX-MAD-01/20261125_LH00123_0104_A22UNMARKT3"
    lake.start_run(run_key, FIVE_DAYS_AGO)
    RunAnnouncer(lake.clients, lake.names, lake.ledger()).publish_pending(run_key)
    _move(lake, run_key, Trigger.OPERATOR_ABORT)
    ddb = lake.moto.client("dynamodb")
    ddb.update_item(  # as main's ledger wrote it: no marker
        TableName=lake.names.runs_table,
        Key={"run_key": {"S": run_key}},
        UpdateExpression="REMOVE owes_messages",
    )
    ddb.update_table(
        TableName=lake.names.runs_table,
        GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "owing"}}],
    )
    assert _tick(lake).announced.published == []  # invisible to the tick, which goes on
    plan = plan_lake(lake.config, lake.clients)
    (table,) = [
        c for c in plan.changes if c.resource == "dynamodb-table" and c.name.endswith("-runs")
    ]
    assert table.reason == "missing index owing"
    (stage,) = [s for s in plan.stages if s.name == "Run log migration"]
    assert [c.resource for c in stage.changes] == ["owed-messages-marker"]
    apply_plan(plan)
    published = [a.message_id for a in _tick(lake).announced.published]
    assert published == [f"{run_key}#run.aborted"]
    assert not [s for s in plan_lake(lake.config, lake.clients).stages if "migration" in s.name]


def test_a_manifest_written_for_an_amendment_is_never_requested_again(lake):
    run_key = "MIS-MAD-01/261130_M00123_0042_000000000-AMEND"
    lake.start_run(run_key, datetime.now(UTC))
    _move(lake, run_key, Trigger.MARKER, Trigger.UPLOAD_CONFIRMED, Trigger.VERIFIED)
    _move(lake, run_key, Trigger.LATE_FILES, late_paths=["Logs/late.log"])
    (request,) = [r for r in _tick(lake).requests if r.work == Work.MANIFEST]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("sequencing_runs", [run_key])
        written = dg.materialize(
            [run_manifest], partition_key=run_key, instance=instance, resources=resources_for(lake)
        )
        assert written.success

    def succeeded(key: str) -> list[Attempt]:  # Dagster's record: that run succeeded
        return [Attempt(AttemptStatus.SUCCEEDED, datetime.now(UTC))] if key == request.key else []

    assert [r for r in _tick(lake, succeeded).requests if r.work == Work.MANIFEST] == []
    # The ledger alone says so too: a pruned run history asks for nothing either.
    assert [r for r in _tick(lake).requests if r.work == Work.MANIFEST] == []
    _move(lake, run_key, Trigger.LATE_FILES, late_paths=["Logs/later.log"])
    (again,) = [r for r in _tick(lake).requests if r.work == Work.MANIFEST]
    assert again.key != request.key  # a new amendment is new work


def test_a_verification_that_succeeded_ends_but_a_reverify_makes_new_work(lake):
    """A `complete_run` that succeeded is never requested again; an operator's reverify while
    it ran (the run back to UPLOAD_CONFIRMED, no verdict recorded) is new work all the same."""
    run_key = "NVX-MAD-01/20261130_LH00123_0105_A22REVERT3"
    lake.start_run(run_key, datetime.now(UTC))
    _move(lake, run_key, Trigger.MARKER, Trigger.UPLOAD_CONFIRMED)
    progress = RunProgress(lake.ledger(), None)
    policy, now = RetryPolicy(), datetime.now(UTC)

    def verifications(attempts) -> list[str]:
        plan = plan_after(progress, TickReport(), attempts, policy, now)
        return [r.key for r, _ in plan.verify_here] + [
            r.key for r in plan.requests if r.work == Work.VERIFY
        ]

    (first,) = verifications(_no_attempts)
    done = {first: [Attempt(AttemptStatus.SUCCEEDED, now)]}
    assert verifications(lambda key: done.get(key, [])) == []  # it ended
    _move(lake, run_key, Trigger.OPERATOR_REVERIFY, Trigger.UPLOAD_CONFIRMED)
    (again,) = verifications(lambda key: done.get(key, []))
    assert again != first


def test_a_completion_after_needs_attention_and_reverify_gets_a_new_message_id(lake):
    run_key = "NVX-MAD-01/20261130_LH00123_0101_A22EPOCHT3"
    lake.start_run(run_key, datetime.now(UTC))
    announcer = RunAnnouncer(lake.clients, lake.names, lake.ledger())
    _move(lake, run_key, Trigger.MARKER, Trigger.UPLOAD_CONFIRMED, Trigger.VERIFIED)
    announcer.publish_pending(run_key)
    _move(lake, run_key, Trigger.GAVE_UP, Trigger.OPERATOR_REVERIFY)
    _move(lake, run_key, Trigger.UPLOAD_CONFIRMED, Trigger.VERIFIED)
    announcer.publish_pending(run_key)  # within the minute: SNS would drop a reused dedup id
    assert events_of(lake, run_key) == [
        "run.started",
        "run.copy_complete",
        "run.completed",  # the first epoch keeps the id it always had
        "run.needs_attention#1",
        "run.completed#2",  # epoch 2: a new announcement, a new id
    ]


def test_every_publish_attempt_the_lake_makes_on_its_own_is_inside_the_dedup_window(lake):
    """A Publish whose answer is lost may have reached SNS: every attempt the lake makes on its
    own comes within SNS's 5-minute window of the message's first failure, so SNS drops the
    copy, NEEDS_ATTENTION's new epoch included; the first retry is the next tick. Past that,
    only an operator's step tries it again. With a backoff long enough (300 s doubling) that
    the window caps it, and every Publish failing with its answer lost."""
    run_key = "NVX-MAD-01/20261130_LH00123_0102_A22WINDOWT3"
    lake.start_run(run_key, datetime.now(UTC))
    ledger = lake.ledger()
    progress = RunProgress(ledger, None)  # the plan reads the ledger only
    policy = RetryPolicy(attempts=5, backoff_seconds=300.0)
    first = datetime.now(UTC)
    attempts_at = []

    def tick_at(now: datetime) -> list:
        return plan_after(progress, TickReport(), _no_attempts, policy, now).announce

    for tick in [*range(0, 300, 10), 360, 420]:  # a tick every 10 s, then two more
        now = first + timedelta(seconds=tick)
        for work in tick_at(now):
            ledger.record_publish_failure(ledger.require_run(run_key), work.key, now)
            attempts_at.append(tick)
    assert ledger.require_run(run_key).state == RunState.NEEDS_ATTENTION
    assert attempts_at[:2] == [0, 10]  # the next tick is the retry
    assert len(attempts_at) >= policy.attempts
    assert max(attempts_at) <= 240  # of SNS's 300: a minute for the tick's own time
    _move(lake, run_key, Trigger.OPERATOR_RETRY)  # an operator's call: tried afresh
    assert [w.run.run_key for w in tick_at(first + timedelta(minutes=8))] == [run_key]


def test_the_run_log_migration_loses_no_transition_applied_while_it_runs(lake):
    """A run recorded before the run log: its outbox is a map in the run item. The sensor
    applies a transition between the migration's read and its write; the migration then
    retries from the run as it is, so the transition's message stays owed and is published."""
    run_key = "NVX-MAD-01/20261130_LH00123_0103_A22LEGACYT3"
    lake.start_run(run_key, datetime.now(UTC))
    ddb = lake.moto.client("dynamodb")
    key = {"run_key": {"S": run_key}}
    ddb.delete_item(
        TableName=lake.names.run_log_table,
        Key={**key, "entry": {"S": "outbox#00000001"}},
    )
    started = {"sequence": {"N": "1"}, "recorded_at": {"S": "2026-11-30T00:00:00.000000Z"}}
    ddb.update_item(  # the legacy shape: the outbox map, no published_sequence
        TableName=lake.names.runs_table,
        Key=key,
        UpdateExpression="SET outbox = :o REMOVE published_sequence",
        ExpressionAttributeValues={
            ":o": {"M": {f"{run_key}#run.started": {"M": started}}},
        },
    )
    migrating = lake.clients.dynamodb()
    applied = []

    def sensor_moves_the_run(**_):
        if not applied:  # once: the sensor's transition lands mid-migration
            applied.append(True)
            _move(lake, run_key, Trigger.SILENCE)

    migrating.meta.events.register("before-call.dynamodb.TransactWriteItems", sensor_moves_the_run)
    try:
        migrate_run(lake.clients, lake.names, run_key)
    finally:
        migrating.meta.events.unregister(
            "before-call.dynamodb.TransactWriteItems", sensor_moves_the_run
        )
    assert applied
    run = lake.ledger().require_run(run_key)
    assert (run.state, run.sequence) == (RunState.STALLED, 2)
    RunAnnouncer(lake.clients, lake.names, lake.ledger()).publish_pending(run_key)
    assert events_of(lake, run_key) == ["run.started", "run.stalled#1"]


def test_a_run_recorded_before_the_run_log_is_migrated_whole_and_its_owed_messages_published(
    lake,
):
    """A completed run as the old ledger kept it: its outbox a map in the run item (two of three
    messages published), its amendment a list, and `run.amended#1` owed but never recorded.
    Provisioning moves it into the run log, and the tick publishes what is owed, in order."""
    run_key = "NVX-MAD-01/20261120_LH00123_0106_A22OLDRUNT3"
    lake.start_run(run_key, FIVE_DAYS_AGO)
    ddb = lake.moto.client("dynamodb")
    key = {"run_key": {"S": run_key}}
    ddb.delete_item(
        TableName=lake.names.run_log_table, Key={**key, "entry": {"S": "outbox#00000001"}}
    )
    at = {"S": "2026-11-20T00:00:00.000000Z"}

    def entry(sequence: int, published: bool) -> dict:
        fields = {"sequence": {"N": str(sequence)}, "recorded_at": at}
        return {"M": fields | ({"published_at": at} if published else {})}

    ddb.update_item(
        TableName=lake.names.runs_table,
        Key=key,
        UpdateExpression="SET outbox = :o, amended_1 = :late, #s = :done, amended_count = :one, "
        "#seq = :three, steps.MARKER_SEEN = :at, steps.COMPLETED = :at "
        "REMOVE published_sequence, owes_messages",
        ExpressionAttributeNames={"#s": "state", "#seq": "sequence"},
        ExpressionAttributeValues={
            ":o": {
                "M": {
                    f"{run_key}#run.started": entry(1, True),
                    f"{run_key}#run.copy_complete": entry(2, True),
                    f"{run_key}#run.completed": entry(3, False),
                }
            },
            ":late": {"L": [{"S": "Logs/late.log"}]},
            ":done": {"S": "COMPLETED"},
            ":one": {"N": "1"},
            ":three": {"N": "3"},
            ":at": at,
        },
    )
    plan = plan_lake(lake.config, lake.clients)
    (stage,) = [s for s in plan.stages if s.name == "Run log migration"]
    assert [c.resource for c in stage.changes] == ["run-log-migration"]
    apply_plan(plan)
    item = ddb.get_item(TableName=lake.names.runs_table, Key=key, ConsistentRead=True)["Item"]
    assert not {"outbox", "amended_1"} & set(item)
    run = lake.ledger().require_run(run_key)
    assert (run.sequence, run.published_sequence) == (4, 2)
    outbox = [e.message_id.removeprefix(f"{run_key}#") for e in lake.ledger().log.outbox(run_key)]
    assert outbox == ["run.started", "run.copy_complete", "run.completed", "run.amended#1"]
    assert lake.ledger().log.amendment(run_key, 1) == ["Logs/late.log"]
    published = [a.message_id for a in _tick(lake).announced.published]
    assert published == [f"{run_key}#run.completed", f"{run_key}#run.amended#1"]
