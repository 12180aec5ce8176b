"""What a `sequencing_run` partition shows: its metadata and its two checks, built once here for
both ways a run is verified, the asset's Dagster run and the events sensor's tick, so the UI
shows the same thing either way.

A completed run's report is built from its ledger record alone (its completion figures and
metadata), so the sensor can report a partition again after a crash lost the first report.
"""

from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AssetMaterialization,
    MetadataValue,
)

from ngs_lake.config.units import format_size
from ngs_lake.orchestration.sequencing.partitions import sequencing_runs
from ngs_lake.runs.dynamo_items import plain
from ngs_lake.runs.model import Run
from ngs_lake.runs.verification import Verification

SEQUENCING_RUN = AssetKey("sequencing_run")
GEOMETRY_CHECK = "file_count_matches_geometry"
LEDGER_CHECK = "no_object_missing"
# A run verified in the events sensor's tick has no Dagster run ("Run: None" in the UI); its
# materialization says who reported it instead.
REPORTED_BY = "events sensor tick"
CHECKS = [
    AssetCheckSpec(
        GEOMETRY_CHECK,
        asset=SEQUENCING_RUN,
        partitions_def=sequencing_runs,
        description="The files in S3 match the run's own geometry (every expected file is there).",
    ),
    AssetCheckSpec(
        LEDGER_CHECK,
        asset=SEQUENCING_RUN,
        partitions_def=sequencing_runs,
        description="Every file the ledger recorded is in S3 with its size.",
    ),
]


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    metadata: dict[str, Any]


def check_outcomes(verification: Verification) -> list[CheckOutcome]:
    """Both checks, from one verification (one S3 listing)."""
    problems = verification.missing_from_s3 + verification.size_mismatch
    return [
        CheckOutcome(
            GEOMETRY_CHECK,
            not (verification.missing_expected or verification.unreadable),
            {
                "expected_files": verification.expected_count,
                "files_in_s3": verification.files,
                "missing": len(verification.missing_expected),
                "unreadable": "; ".join(verification.reasons[:5]),
            },
        ),
        CheckOutcome(
            LEDGER_CHECK,
            not problems,
            {"missing_or_mismatched": len(problems), "first": ", ".join(problems[:10])},
        ),
    ]


def completed_check_outcomes(run: Run) -> list[CheckOutcome]:
    """Both checks of a completed run, as its verification gave them: both passed."""
    completion = plain(run.completion)
    return [
        CheckOutcome(
            GEOMETRY_CHECK,
            True,
            {
                "expected_files": completion.get("expected_files", 0),
                "files_in_s3": completion.get("files", 0),
                "missing": 0,
                "unreadable": "",
            },
        ),
        CheckOutcome(LEDGER_CHECK, True, {"missing_or_mismatched": 0, "first": ""}),
    ]


def partition_metadata(run: Run) -> dict[str, Any]:
    """What the UI shows for a completed run: its figures and the instrument's metadata."""
    completion, metadata = plain(run.completion), plain(run.metadata)
    seconds = {
        name: float(completion.get(name) or 0.0)
        for name in ("sequencing_seconds", "upload_lag_seconds", "marker_to_completion_seconds")
    }
    instrument = {
        f"run_{key}": value
        for key, value in {**run.facts, **metadata}.items()
        if isinstance(value, str | int | float) and not isinstance(value, bool)
    }
    return {
        "files": completion.get("files", 0),
        "size": format_size(completion.get("bytes", 0)),
        "platform": run.platform,
        "site": run.site,
        "flowcell": run.flowcell or "",
        "s3_prefix": MetadataValue.url(f"s3://{run.bucket}/{run.run_folder}/"),
        **seconds,
        "expected_files": completion.get("expected_files", 0),
        **instrument,
        **sample_metadata(run),
    }


def sample_metadata(run: Run) -> dict[str, Any]:
    """Issue #31: the sample count and projects of the sheet `run.completed` carried."""
    sheet = run.samplesheet_at_completion
    if not sheet:
        return {"samples": 0, "samplesheet": "none recorded"}
    status = sheet.get("status", "")
    return {
        "samples": int(sheet.get("sample_count") or 0),
        "projects": ", ".join(sheet.get("projects") or []),
        "samplesheet": status + (f": {sheet['reason']}" if sheet.get("reason") else ""),
    }


def check_results(outcomes: list[CheckOutcome]) -> list[AssetCheckResult]:
    """The checks as the asset yields them."""
    return [
        AssetCheckResult(check_name=o.name, passed=o.passed, metadata=o.metadata) for o in outcomes
    ]


def reported_events(
    run: Run, outcomes: list[CheckOutcome]
) -> list[AssetMaterialization | AssetCheckEvaluation]:
    """A completed run's report as asset events, for `SensorResult(asset_events=...)`: the
    materialization first, so a crash while the daemon stores them leaves either nothing or
    the materialization, never checks the reconcile pass would report a second time (Dagster
    keeps one run-less check result per partition)."""
    events: list[AssetMaterialization | AssetCheckEvaluation] = [
        AssetMaterialization(
            SEQUENCING_RUN,
            partition=run.run_key,
            metadata={**partition_metadata(run), "reported_by": REPORTED_BY},
        )
    ]
    events += [
        AssetCheckEvaluation(
            asset_key=SEQUENCING_RUN,
            check_name=o.name,
            passed=o.passed,
            metadata=o.metadata,
            partition=run.run_key,
        )
        for o in outcomes
    ]
    return events
