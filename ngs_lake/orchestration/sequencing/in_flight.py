"""Runs in flight in the UI: each ledger state change of a run as an observation of its
`sequencing_run` partition, and `runs_in_flight`, whose table lists every run not complete.

A partition shows "Missing" until its run is verified; the observations say where the run is
meanwhile (STARTED, MARKER_SEEN, UPLOAD_CONFIRMED, STALLED, INCOMPLETE, NEEDS_ATTENTION,
ABORTED). The events sensor reports them from its tick, so they have no Dagster run. Its cursor
holds the state each run was last reported in, so a state is reported once, and the daemon
stores cursor and events together after the tick.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from dagster import (
    AssetKey,
    AssetObservation,
    AssetSpec,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)

from ngs_lake.operations.in_flight import InFlightRun, in_flight, next_step
from ngs_lake.orchestration.sequencing.partition_reports import REPORTED_BY, SEQUENCING_RUN
from ngs_lake.runs.model import Run, RunState, utc_iso

RUNS_IN_FLIGHT = AssetKey("runs_in_flight")
# The table is reported again when a run's state changes, or this long after the last report,
# so its ages stay roughly current without an observation every tick.
TABLE_REFRESH = timedelta(minutes=5)
COLUMNS = TableSchema(
    columns=[
        TableColumn("run_key", "string", description="The full run key (the partition key)"),
        TableColumn("state", "string"),
        TableColumn("site", "string"),
        TableColumn("age", "string", description="Since the run's first file"),
        TableColumn("next_step", "string", description="What the lake waits for next"),
        TableColumn("started_at", "string", description="UTC"),
    ]
)

runs_in_flight = AssetSpec(
    RUNS_IN_FLIGHT,
    group_name="sequencing",
    description="Every run not complete yet, with its full key, state, site, age and next "
    "step: a table observed by the events sensor's tick whenever a run's state changes.",
    kinds={"dynamodb"},
)


@dataclass
class ReportedStates:
    """The events sensor's cursor: each run's last reported state, and the table's last report."""

    states: dict[str, str] = field(default_factory=dict)
    table_digest: str = ""
    table_at: str = ""

    @classmethod
    def parse(cls, cursor: str | None) -> ReportedStates:
        if not cursor:
            return cls()
        return cls(**json.loads(cursor))

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _state_token(run: Run) -> str:
    """A state entered again (INCOMPLETE after a retry, STARTED after a resume) is a new token."""
    return f"{run.state.value}@{run.step_iso(run.state.value) or run.version}"


def state_observations(runs: list[Run], reported: ReportedStates) -> list[AssetObservation]:
    """An observation per run whose state changed since it was last reported; completed runs
    have their materialization instead, and leave the cursor."""
    observations = []
    states = {}
    for run in runs:
        if run.state == RunState.COMPLETED:
            continue
        token = states[run.run_key] = _state_token(run)
        if reported.states.get(run.run_key) == token:
            continue
        observations.append(
            AssetObservation(
                SEQUENCING_RUN,
                partition=run.run_key,
                description=f"{run.state.value}: {next_step(run)}",
                metadata={
                    "state": run.state.value,
                    "run_key": run.run_key,
                    "site": run.site,
                    "entered_state_at": run.step_iso(run.state.value) or "",
                    "next_step": next_step(run),
                    "reported_by": REPORTED_BY,
                },
            )
        )
    reported.states = states
    return observations


def table_observation(
    runs: list[Run], reported: ReportedStates, now: datetime
) -> AssetObservation | None:
    """`runs_in_flight` with its table, when the list changed or its last report is old."""
    rows = in_flight(runs, now)
    digest = hashlib.sha256(json.dumps([(r.run_key, r.state) for r in rows]).encode()).hexdigest()[
        :16
    ]
    fresh = reported.table_at and now - datetime.fromisoformat(reported.table_at) < TABLE_REFRESH
    if digest == reported.table_digest and fresh:
        return None
    reported.table_digest, reported.table_at = digest, now.isoformat()
    return AssetObservation(
        RUNS_IN_FLIGHT,
        description=f"{len(rows)} run{'' if len(rows) == 1 else 's'} in flight",
        metadata={
            "runs": MetadataValue.table(_records(rows), schema=COLUMNS),
            "in_flight": len(rows),
            "as_of": utc_iso(now),
            "reported_by": REPORTED_BY,
        },
    )


def _records(rows: list[InFlightRun]) -> list[TableRecord]:
    return [TableRecord(asdict(row)) for row in rows]
