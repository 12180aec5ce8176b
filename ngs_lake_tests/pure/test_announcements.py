"""The lifecycle message's pure parts: its id, its times, its body and the JSON Schema every
published body must meet (ARCHITECTURE §6). Building it from the ledger and publishing it talk
to AWS, and are tested against moto elsewhere."""

import json
from datetime import UTC, datetime, timedelta, timezone

import jsonschema
import pytest

from ngs_lake.runs.announcements import (
    SCHEMA_ID,
    OccurredAt,
    RunBlock,
    RunEventMessage,
    UploadBlock,
    message_id,
    occurred_at,
    run_event_schema,
    validate_message,
)
from ngs_lake.runs.model import RunEventType

RUN_KEY = "NVX-MAD-01/20231116_LH00123_0042_A22F7KLT4"


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        (RunEventType.STARTED, f"{RUN_KEY}#run.started"),
        (RunEventType.COPY_COMPLETE, f"{RUN_KEY}#run.copy_complete"),
        (RunEventType.COMPLETED, f"{RUN_KEY}#run.completed"),
        (RunEventType.ABORTED, f"{RUN_KEY}#run.aborted"),
        (RunEventType.INCOMPLETE, f"{RUN_KEY}#run.incomplete#1"),
        (RunEventType.STALLED, f"{RUN_KEY}#run.stalled#1"),
        (RunEventType.RESUMED, f"{RUN_KEY}#run.resumed#1"),
        (RunEventType.AMENDED, f"{RUN_KEY}#run.amended#1"),
    ],
)
def test_message_ids_number_only_the_types_that_repeat(event_type, expected):
    assert message_id(RUN_KEY, event_type) == expected


def test_a_repeated_message_carries_its_occurrence():
    assert message_id(RUN_KEY, RunEventType.STALLED, 3) == f"{RUN_KEY}#run.stalled#3"


def test_a_once_per_epoch_message_carries_its_epoch_after_the_first():
    """A run announces `run.completed` (or `run.aborted`) once per epoch; a later epoch's is a
    new announcement with a new id, so SNS and consumers never drop it as a repeat."""
    assert message_id(RUN_KEY, RunEventType.COMPLETED, 1) == f"{RUN_KEY}#run.completed"
    assert message_id(RUN_KEY, RunEventType.COMPLETED, 2) == f"{RUN_KEY}#run.completed#2"
    assert message_id(RUN_KEY, RunEventType.ABORTED, 3) == f"{RUN_KEY}#run.aborted#3"


@pytest.mark.usefixtures("machine_in_chicago")
def test_occurred_at_is_utc_with_the_sites_local_time():
    moment = datetime(2026, 11, 28, 12, 34, 56, 789, tzinfo=UTC)
    assert occurred_at(moment, "America/Chicago") == OccurredAt(
        utc="2026-11-28T12:34:56.000789Z", local="2026-11-28T06:34:56", timezone="America/Chicago"
    )


@pytest.mark.usefixtures("machine_in_chicago")
def test_occurred_at_converts_any_offset_to_utc():
    moment = datetime(2026, 7, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert occurred_at(moment, "Europe/Berlin") == OccurredAt(
        utc="2026-07-01T12:00:00.000000Z", local="2026-07-01T14:00:00", timezone="Europe/Berlin"
    )


def message(**changes) -> RunEventMessage:
    fields = {
        "message_id": f"{RUN_KEY}#run.completed",
        "event_type": RunEventType.COMPLETED,
        "sequence": 3,
    }
    return RunEventMessage(
        **(fields | changes),
        occurred_at=occurred_at(datetime(2026, 11, 28, 12, 34, 56, tzinfo=UTC), "America/Chicago"),
        run=RunBlock(
            run_key=RUN_KEY,
            run_id="20231116_LH00123_0042_A22F7KLT4",
            sequencer_id="NVX-MAD-01",
            platform="novaseq-x",
            site="madison",
            lab="Madison Biotechnology Core",
            bucket="ngs-lake-nvx-mad-01",
            prefix="20231116_LH00123_0042_A22F7KLT4/",
            s3_uri="s3://ngs-lake-nvx-mad-01/20231116_LH00123_0042_A22F7KLT4/",
            flowcell="22F7KLT4",
        ),
        upload=UploadBlock(files=8_229, bytes=1_234_567_890),
    )


def test_the_body_is_the_published_json():
    assert json.loads(message().body()) == {
        "schema": "ngs-lake/run-event/v1",
        "message_id": f"{RUN_KEY}#run.completed",
        "event_type": "run.completed",
        "sequence": 3,
        "occurred_at": {
            "utc": "2026-11-28T12:34:56.000000Z",
            "local": "2026-11-28T06:34:56",
            "timezone": "America/Chicago",
        },
        "run": {
            "run_key": RUN_KEY,
            "run_id": "20231116_LH00123_0042_A22F7KLT4",
            "sequencer_id": "NVX-MAD-01",
            "platform": "novaseq-x",
            "site": "madison",
            "lab": "Madison Biotechnology Core",
            "bucket": "ngs-lake-nvx-mad-01",
            "prefix": "20231116_LH00123_0042_A22F7KLT4/",
            "s3_uri": "s3://ngs-lake-nvx-mad-01/20231116_LH00123_0042_A22F7KLT4/",
            "flowcell": "22F7KLT4",
            "metadata": {},
            "facts": {},
        },
        "upload": {
            "files": 8_229,
            "bytes": 1_234_567_890,
            "first_upload_at": None,
            "last_upload_at": None,
            "marker_seen_at": None,
            "confirmed_at": None,
        },
        "details": {},
        "samples": None,  # issue #31: no sheet recorded for this run
    }


def test_every_event_type_makes_a_valid_body():
    for event_type in RunEventType:
        mid = message_id(RUN_KEY, event_type, 2)
        validate_message(message(message_id=mid, event_type=event_type).body())


def test_the_schema_is_the_shipped_v1():
    schema = run_event_schema()
    assert schema["$id"] == "https://ngs-lake.example/schemas/run-event/v1"
    assert schema["properties"]["schema"] == {"const": SCHEMA_ID}
    assert SCHEMA_ID == "ngs-lake/run-event/v1"


def _edited(edit) -> str:
    document = json.loads(message().body())
    edit(document)
    return json.dumps(document)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(schema="ngs-lake/run-event/v2"),
        lambda d: d.update(message_id="run.completed"),
        lambda d: d.update(message_id=f"{RUN_KEY}#run.stalled#0"),
        lambda d: d.update(event_type="run.finished"),
        lambda d: d.update(sequence=0),
        lambda d: d["occurred_at"].update(utc="2026-11-28 12:34:56"),
        lambda d: d["run"].update(platform="hiseq-2500"),
        lambda d: d["run"].update(prefix="no-slash"),
        lambda d: d["run"].update(s3_uri="https://bucket/"),
        lambda d: d["upload"].update(files=-1),
        lambda d: d.pop("upload"),
    ],
    ids=[
        "schema",
        "message_id",
        "occurrence-0",
        "event_type",
        "sequence",
        "utc",
        "platform",
        "prefix",
        "s3_uri",
        "files",
        "upload",
    ],
)
def test_a_body_that_breaks_the_schema_is_refused(edit):
    with pytest.raises(jsonschema.ValidationError):
        validate_message(_edited(edit))
