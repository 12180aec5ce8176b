"""`samplesheet_unreadable` (issue #31): judged from the run's sheet in force; names the run and
the reason, never a sample."""

from datetime import UTC, datetime

from ngs_lake.alerts.sheet_conditions import SAMPLESHEET_UNREADABLE, samplesheet_findings
from ngs_lake.runs.model import RunState
from ngs_lake_tests.pure.test_alert_conditions import NOW, _run

INVALID = {
    "entry": "samplesheet#ab",
    "path": "SampleSheet.csv",
    "version_id": "v1",
    "digest": "0" * 64,
    "landed_at": "2026-11-30T10:00:00.000000Z",
    "status": "invalid",
    "reason": "Sample_ID repeated in lane 1 (rows 1 and 2)",
    "sample_count": 24,
}


def test_an_invalid_or_unreadable_sheet_alerts_once_per_run_naming_the_reason():
    runs = [
        _run(RunState.COMPLETED, samplesheet=INVALID),
        _run(RunState.STARTED, samplesheet=INVALID | {"status": "ok", "reason": None}),
        _run(RunState.MARKER_SEEN),
    ]
    (alert,) = samplesheet_findings(runs, NOW)
    assert alert.condition == SAMPLESHEET_UNREADABLE
    assert alert.subject == "NVX-MAD-01/RUN_COMPLETED"
    assert alert.began_at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert alert.summary.startswith(
        "run NVX-MAD-01/RUN_COMPLETED: samplesheet invalid: Sample_ID repeated in lane 1 "
        "(rows 1 and 2) (SampleSheet.csv, version v1)"
    )
    assert alert.command == "ngs-lake runs sheets NVX-MAD-01/RUN_COMPLETED"
