"""Runs in flight in the UI (issue #36): the events sensor's tick reports each ledger state of a
run as an observation of its `sequencing_run` partition, and `runs_in_flight` lists every run not
complete with its full key; a state is reported once, and a completed run leaves the list.

Against the moto server and the gateway process; `Driver` plays the daemon on a test instance.
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg

from ngs_lake.operations.in_flight import in_flight
from ngs_lake.orchestration.sequencing.in_flight import (
    ReportedStates,
    state_observations,
    table_observation,
)
from ngs_lake.platforms import family_of
from ngs_lake.runs.model import Run, RunState
from ngs_lake.simulator import RunSpec, plan_simulation, simulate
from ngs_lake.simulator.plan import PlannedRun
from ngs_lake_tests.conftest import run_cli
from ngs_lake_tests.test_completion import Driver

SEQUENCING_RUN = dg.AssetKey("sequencing_run")
RUNS_IN_FLIGHT = dg.AssetKey("runs_in_flight")


def _observed_states(instance, run_key: str) -> list[str]:
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=SEQUENCING_RUN, asset_partitions=[run_key]), limit=50
    ).records
    observations = [r.event_log_entry.asset_observation for r in reversed(records)]
    assert all(o.metadata["reported_by"].value == "events sensor tick" for o in observations)
    return [o.metadata["state"].value for o in observations]


def _in_flight_table(instance) -> list[dict]:
    (record,) = instance.fetch_observations(RUNS_IN_FLIGHT, limit=1).records
    table = record.event_log_entry.asset_observation.metadata["runs"].value
    return [dict(row.data) for row in table.records]


def _state(lake, run_key: str):
    return lambda: (r := lake.ledger().get_run(run_key)) and r.state


def split_at_marker(run: PlannedRun) -> tuple[PlannedRun, PlannedRun]:
    """The run's writes without its completion marker, and the marker alone: written one after
    the other, the run is in flight (STARTED) until the second is written."""
    family = family_of(run.platform)

    def is_marker(step) -> bool:
        location = family.locate(step.path)
        return location is not None and family.is_completion_marker(run.platform, location)

    return (
        replace(run, steps=[s for s in run.steps if not is_marker(s)]),
        replace(run, steps=[s for s in run.steps if is_marker(s)]),
    )


def test_a_run_in_flight_shows_its_state_and_full_key_until_it_completes(lake):
    (run,) = plan_simulation(
        RunSpec(platform="miseq", scenario="tiny", duration_seconds=1, seed=43, max_file_bytes=256)
    )
    before_marker, marker = split_at_marker(run)
    run_key = f"MIS-MAD-01/{run.run_folder}"
    share = lake.share_folder("MIS-MAD-01")
    simulate([before_marker], share, seed=43)
    with dg.instance_for_test() as instance:
        driver = Driver(lake, instance)
        driver.until(lambda: _state(lake, run_key)() == RunState.STARTED, what="STARTED")
        driver.tick()
        driver.tick()
        assert _observed_states(instance, run_key) == ["STARTED"]  # once, however many ticks
        (row,) = [r for r in _in_flight_table(instance) if r["run_key"] == run_key]
        assert (row["state"], row["site"]) == ("STARTED", "madison")
        assert row["next_step"] == "files uploading; waits for the run's completion marker"

        simulate([marker], share, seed=43, continuing=True)
        driver.until(lambda: _state(lake, run_key)() == RunState.COMPLETED, what="COMPLETED")
        driver.tick()
        states = _observed_states(instance, run_key)
        assert states[0] == "STARTED" and "COMPLETED" not in states
        assert set(states) <= {"STARTED", "MARKER_SEEN", "UPLOAD_CONFIRMED"}
        assert run_key not in [r["run_key"] for r in _in_flight_table(instance)]
        assert run_key in instance.get_materialized_partitions(SEQUENCING_RUN)
    # A mistyped key (a digit dropped) is refused with the closest keys the ledger holds.
    typo = run_key[:-1]
    shown = run_cli(
        lake.moto.endpoint, lake.gateway.endpoint, lake.config_path, "runs", "show", typo
    )
    assert shown.returncode == 1
    assert shown.stderr.splitlines()[-2:] == [
        f"Error: no run {typo!r} in the ledger; did you mean:",
        f"  {run_key}",
    ]


def _run(state: RunState, entered: datetime, **fields) -> Run:
    started = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    return Run(
        run_key="NVX-BOS-01/20261201_LH00123_0101_A22JESH7LT8",
        run_folder="20261201_LH00123_0101_A22JESH7LT8",
        state=state,
        sequencer_id="NVX-BOS-01",
        platform="novaseq-x",
        site="boston",
        bucket="bucket",
        share_arn="arn:aws:storagegateway:us-east-1:123456789012:share/share-F123D451",
        started_at=started,
        last_activity_at=entered,
        steps={"STARTED": started, state.value: entered},
        **fields,
    )


def test_every_state_short_of_completed_is_reported_once_and_again_when_reentered():
    reported = ReportedStates()
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    states = []
    for state in (
        RunState.STARTED,
        RunState.MARKER_SEEN,
        RunState.STALLED,
        RunState.INCOMPLETE,
        RunState.NEEDS_ATTENTION,
        RunState.ABORTED,
    ):
        run = _run(state, at, attention_reason="verify failed 3 times")
        (observation,) = state_observations([run], reported)
        assert state_observations([run], ReportedStates.parse(reported.dump())) == []
        states.append(observation.metadata["state"].value)
        assert observation.partition == run.run_key
    assert states == [
        "STARTED",
        "MARKER_SEEN",
        "STALLED",
        "INCOMPLETE",
        "NEEDS_ATTENTION",
        "ABORTED",
    ]
    later = _run(RunState.ABORTED, at + timedelta(hours=1))
    assert len(state_observations([later], reported)) == 1  # the same state, entered again
    assert state_observations([_run(RunState.COMPLETED, at)], reported) == []


def test_the_in_flight_table_lists_runs_not_complete_with_age_and_next_step():
    now = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
    incomplete = _run(RunState.INCOMPLETE, now, retry_after=now + timedelta(minutes=5))
    rows = in_flight([incomplete, _run(RunState.COMPLETED, now)], now)
    assert [(r.run_key, r.state, r.site, r.age) for r in rows] == [
        ("NVX-BOS-01/20261201_LH00123_0101_A22JESH7LT8", "INCOMPLETE", "boston", "2h")
    ]
    assert (
        rows[0].next_step == "asks the gateway again and reverifies at 2026-12-01T10:35:00.000000Z"
    )
    reported = ReportedStates()
    assert table_observation([incomplete], reported, now) is not None
    assert table_observation([incomplete], reported, now + timedelta(minutes=1)) is None
    assert table_observation([incomplete], reported, now + timedelta(minutes=6)) is not None
