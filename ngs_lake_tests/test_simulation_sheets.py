"""Issue #31 in the run-core simulation (ngs_lake_tests/simulation/sheets.py): a stored scenario
of its actions, settled and judged on every invariant. The same rules take part in
test_simulation.py's fresh examples."""

from ngs_lake.runs.model import RunEventType, RunState
from ngs_lake.runs.sample_sheets import SHEET
from ngs_lake_tests.simulation.machine import LakeSimulation
from ngs_lake_tests.test_simulation_metadata import A01


def test_sheet_versions_redelivered_and_reordered_announce_each_change_once_and_block_nothing():
    def steps(sim) -> None:
        sim.start_run(A01)
        sim.advance(60)
        sim.sheet_rewritten(0, 0)  # a sheet no parser reads, before the marker
        sim.write_files(0, 2)
        sim.advance(60)
        sim.write_marker(0)
        sim.advance(300)  # completes with the unreadable sheet in force
        sim.alert_pass()
        sim.sheet_rewritten(0, 1)  # corrected after completion: announced
        sim.advance(60)
        sim.sheet_event_again(0, 2)  # the first version's event again, twice
        sim.sheet_rewritten(0, 1)  # the same bytes saved again: not announced
        sim.advance(60)
        sim.sheet_rewritten(0, 2)  # another correction, its event then delivered again
        sim.sheet_event_again(0, 1)
        sim.advance(120)
        sim.alert_pass()

    sim = LakeSimulation()
    sim.setup(seed=11)
    try:
        steps(sim)
        sim.settle()  # every invariant judged, at quiescence too
        (run,) = sim.judge.runs()
        log = sim.judge.sheets._log(run.run_key)
        open_alerts = sim.lake.open_alert_subjects()
    finally:
        sim.lake.close()
    assert run.state == RunState.COMPLETED
    assert run.samplesheet_at_completion["status"] == "unreadable"
    assert (run.samplesheet["status"], run.samplesheet["sample_count"]) == ("ok", 2)
    changes = [i for i in log if i.get("event_type") == RunEventType.SAMPLESHEET_CHANGED.value]
    assert len(changes) == 2  # variant 1, then variant 2; the re-save and redeliveries: none
    assert run.run_key not in open_alerts
    assert sim.judge.checked["invariant checked: a bad sheet never holds a run back"] >= 1


def _completed_with_sheet_refused(times: int):
    """S3 refuses the next `times` HeadObject calls from the start: the sample sheet's at its
    upload event, then the final summary's, then both again when the run completes. Returns the
    run and the versions recorded of its sample sheet."""
    sim = LakeSimulation()
    sim.setup(seed=31)
    try:
        sim.start_run(A01)
        sim.sheet_read_fault("throttle", times)
        sim.advance(60)
        sim.write_files(0, 2)
        sim.advance(60)
        sim.write_marker(0)
        sim.advance(300)
        sim.alert_pass()
        sim.settle()  # every invariant judged, "a completed run's sheet ..." among them
        (run,) = sim.judge.runs()
        versions = [
            i
            for i in sim.judge.sheets._log(run.run_key)
            if i["entry"].startswith(SHEET) and i["path"].startswith("sample_sheet_")
        ]
        checked = sim.judge.checked[
            "invariant checked: a completed run's sheet is recorded or named unreadable"
        ]
    finally:
        sim.lake.close()
    assert run.state == RunState.COMPLETED and checked >= 1
    return run, versions


def test_a_sheet_s3_refused_at_its_event_is_read_again_at_completion():
    run, versions = _completed_with_sheet_refused(1)
    assert [v["status"] for v in versions] == ["ok"]
    assert run.samplesheet_at_completion["entry"] == versions[0]["entry"]


def test_a_sheet_s3_still_refuses_at_completion_completes_the_run_naming_it():
    run, versions = _completed_with_sheet_refused(4)
    assert versions == []
    sheet = run.samplesheet_at_completion
    assert sheet["status"] == "unreadable" and sheet["path"].startswith("sample_sheet_")
    assert sheet["reason"] == (
        f"could not read s3://{run.bucket}/{run.run_folder}/{sheet['path']}: ThrottlingException"
    )
