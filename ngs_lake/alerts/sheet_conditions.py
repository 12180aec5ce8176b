"""`samplesheet_unreadable` (issue #31): a run whose sample sheet in force no parser reads, or
that is ambiguous (a Sample_ID twice in a lane, colliding indexes, OverrideCycles against
RunInfo). The run still completes; the alert names the run and the reason, and never a sample
(they can be patient accession numbers): the reasons speak of rows, lanes and counts.

Pure: judged from the runs the ledger gives (alerts/sources.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from ngs_lake.alerts.conditions import WARNING, Alert
from ngs_lake.runs.model import Run, RunState, parse_iso

SAMPLESHEET_UNREADABLE = "samplesheet_unreadable"
# Completed runs are judged while active within this window (the by-state index's range key):
# an older run's sheet is not watched, so its alert resolves.
COMPLETED_WATCHED = timedelta(days=30)
WATCHED_STATES = (
    RunState.STARTED,
    RunState.MARKER_SEEN,
    RunState.UPLOAD_CONFIRMED,
    RunState.STALLED,
    RunState.INCOMPLETE,
    RunState.NEEDS_ATTENTION,
)


def samplesheet_findings(runs: Iterable[Run], now: datetime) -> list[Alert]:
    out = []
    for run in runs:
        sheet = run.samplesheet or {}
        status = sheet.get("status")
        if status not in ("unreadable", "invalid"):
            continue
        landed = sheet.get("landed_at") or sheet.get("refused_at")
        version = sheet.get("version_id")  # none when S3 refused the sheet at completion
        where = f"{sheet.get('path')}, version {version}" if version else sheet.get("path")
        out.append(
            Alert(
                SAMPLESHEET_UNREADABLE,
                run.run_key,
                parse_iso(landed) if landed else now,
                WARNING,
                f"run {run.run_key}: samplesheet {status}: {sheet.get('reason')} "
                f"({where}); its analyses "
                "launch nothing until a good version lands or one is pinned",
                f"ngs-lake runs sheets {run.run_key}",
            )
        )
    return out
