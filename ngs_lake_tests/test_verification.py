"""Per-run verification against a versioned bucket on the moto server."""

from ngs_lake.runs.verification import verify_run

RUN = "20261129_LH00123_0007_A22VERILT3"
KEY = f"{RUN}/InterOp/QMetricsOut.bin"


def _run(bucket: str) -> dict:
    return {
        "run_key": f"NVX-MAD-01/{RUN}",
        "run_folder": RUN,
        "bucket": bucket,
        "platform": "novaseq-x",
    }


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
    result = verify_run(
        moto.client("s3"), _run(bucket), [{"path": "InterOp/QMetricsOut.bin", "size": 38}]
    )
    assert result.size_mismatch == []
    assert result.missing_from_s3 == []
    assert result.objects["InterOp/QMetricsOut.bin"].size == 352


def test_a_ledger_size_no_version_has_is_a_mismatch(moto):
    bucket = _bucket_with_two_versions(moto)
    result = verify_run(
        moto.client("s3"), _run(bucket), [{"path": "InterOp/QMetricsOut.bin", "size": 100}]
    )
    assert result.size_mismatch == ["InterOp/QMetricsOut.bin"]
