"""Per-run verification against a versioned bucket on the moto server."""

from datetime import UTC, datetime

from ngs_lake.runs.model import Run, RunFile, RunState
from ngs_lake.runs.verification import verify_run

RUN = "20261129_LH00123_0007_A22VERILT3"
KEY = f"{RUN}/InterOp/QMetricsOut.bin"


NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _run(bucket: str) -> Run:
    return Run(
        run_key=f"NVX-MAD-01/{RUN}",
        run_folder=RUN,
        state=RunState.UPLOAD_CONFIRMED,
        sequencer_id="NVX-MAD-01",
        platform="novaseq-x",
        site="madison",
        bucket=bucket,
        share_arn="arn:aws:storagegateway:us-east-1:123456789012:share/share-1",
        started_at=NOW,
        last_activity_at=NOW,
    )


def _file(size: int) -> RunFile:
    return RunFile(f"NVX-MAD-01/{RUN}", "InterOp/QMetricsOut.bin", size, NOW, "e1", NOW)


def _bucket_with_two_versions(moto) -> str:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="verify-versions")
    s3.put_bucket_versioning(
        Bucket="verify-versions", VersioningConfiguration={"Status": "Enabled"}
    )
    s3.put_object(Bucket="verify-versions", Key=KEY, Body=b"x" * 38)  # the instrument's first
    s3.put_object(Bucket="verify-versions", Key=KEY, Body=b"x" * 352)  # and its rewrite
    return "verify-versions"


def test_a_ledger_size_from_an_earlier_version_is_not_a_mismatch(moto):
    """A late event for the first write left its size in the ledger; S3 holds the rewrite."""
    bucket = _bucket_with_two_versions(moto)
    result = verify_run(moto.client("s3"), _run(bucket), [_file(38)])
    assert result.size_mismatch == []
    assert result.missing_from_s3 == []
    assert result.objects["InterOp/QMetricsOut.bin"].size == 352


def test_a_ledger_size_no_version_has_is_a_mismatch(moto):
    bucket = _bucket_with_two_versions(moto)
    result = verify_run(moto.client("s3"), _run(bucket), [_file(100)])
    assert result.size_mismatch == ["InterOp/QMetricsOut.bin"]
