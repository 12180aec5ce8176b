"""The tick's verification pass: confirmed runs whose listing fits the tick's time budget are
verified by the sensor itself, with the very steps the `sequencing_run` asset takes (verify_run,
then complete), so `run.completed` waits on S3 and not on a run launch.

A run whose listing does not fit (a large run, or a budget already spent by the runs before
it), whose listing S3 refused, or that fails verification, is left to a Dagster run of
`complete_run`, as before, with its retries and its give-up. A failure goes there because Dagster
keeps one run-less check result per partition (its unique index on asset_check_executions
includes the run id, "" for a sensor's), so only the run shows failed checks in the UI; it is
not the hurried path either. Verifying twice is harmless: each outcome is a conditional ledger
transition from UPLOAD_CONFIRMED, so the second finds the run moved and does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ngs_lake.runs.fixity_record import FixityRecordStore
from ngs_lake.runs.ledger import RunLedger, TransitionConflict
from ngs_lake.runs.lifecycle import complete
from ngs_lake.runs.model import Run
from ngs_lake.runs.sample_sheets import SampleSheetRecorder
from ngs_lake.runs.verification import OverBudget, Verification, verify_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verified:
    """A run the tick verified and completed: `run` as it is now, COMPLETED."""

    run: Run
    verification: Verification


@dataclass
class VerifyReport:
    verified: list[Verified] = field(default_factory=list)
    fallback: list[Run] = field(default_factory=list)  # a Dagster run verifies these


def verify_due(
    ledger: RunLedger,
    s3: Any,
    runs: Sequence[Run],
    budget_seconds: float,
    records: FixityRecordStore,
) -> VerifyReport:
    """Verify each run while the budget lasts; every other run goes to `fallback`. Reading
    every object's checksum counts against the budget: a run with more objects than fit
    (thousands, at a few hundred GetObjectAttributes a second) goes to `complete_run`."""
    report = VerifyReport()
    sheets = SampleSheetRecorder(s3, ledger)
    deadline = ledger.clock.monotonic() + budget_seconds
    for run in runs:
        if ledger.clock.monotonic() >= deadline:
            report.fallback.append(run)
            continue
        try:
            verification = verify_run(s3, run, ledger.files(run.run_key), deadline, ledger.clock)
        except OverBudget as exc:
            log.info("%s", exc)
            report.fallback.append(run)
            continue
        except (BotoCoreError, ClientError) as exc:  # S3 or the ledger failed: a run retries
            log.warning("%s: verification in the tick failed: %s", run.run_key, exc)
            report.fallback.append(run)
            continue
        if not verification.passed:  # recorded, and its failed checks shown, by a run
            log.info("%s failed verification in the tick; a run checks it", run.run_key)
            report.fallback.append(run)
            continue
        try:
            report.verified.append(
                Verified(complete(ledger, run, verification, records, sheets), verification)
            )
        except TransitionConflict:
            log.info("%s moved on meanwhile; leaving it", run.run_key)
    return report
