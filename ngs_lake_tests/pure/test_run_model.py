"""The run lifecycle's states and the event types on the topic (ARCHITECTURE §6): consumers
filter on these strings, so they are part of the published contract."""

import json
from pathlib import Path

from ngs_lake.config import values as config_values
from ngs_lake.runs.model import EVENT_TYPES, RunEventType, RunState

SCHEMA = Path(__file__).parents[2] / "ngs_lake" / "schemas" / "run-event-v1.json"


def test_event_types_are_the_published_names():
    assert EVENT_TYPES == (
        "run.started",
        "run.copy_complete",
        "run.completed",
        "run.incomplete",
        "run.stalled",
        "run.resumed",
        "run.aborted",
        "run.amended",
        "run.needs_attention",
        "run.samplesheet_changed",
    )
    assert RunEventType.COPY_COMPLETE == "run.copy_complete"


def test_the_schema_and_the_config_name_the_same_event_types():
    schema = json.loads(SCHEMA.read_text())
    assert tuple(schema["properties"]["event_type"]["enum"]) == EVENT_TYPES
    assert config_values.EVENT_TYPES == EVENT_TYPES


def test_run_states_are_the_ledgers_strings():
    assert [s.value for s in RunState] == [
        "STARTED",
        "MARKER_SEEN",
        "UPLOAD_CONFIRMED",
        "COMPLETED",
        "STALLED",
        "INCOMPLETE",
        "ABORTED",
        "NEEDS_ATTENTION",
    ]
