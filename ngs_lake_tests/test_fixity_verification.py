"""Fixity at verification (issue 33): every object's checksum read and recorded, and the
instrument's own hashes (ONT `output_hash_*.csv`) checked against the lake's bytes.

A MinION run (its verbatim final summary, from EdinburghGenomics/hesiod: 38 POD5 batches and 33
FASTQ files) is put into a versioned bucket on the moto server. Its `output_hash` is written
here in ONT's format (`filename,sha256`; POD5 rows left empty, as MinKNOW does), with digests
written as literals, computed once with `sha256sum` from the bytes below. Expected checksums are
computed by the test from the bytes it wrote, never read back from the lake.
"""

import base64
import hashlib
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from botocore.config import Config

from ngs_lake.alerts.fixity_conditions import fixity_findings
from ngs_lake.fixity.audit import MISMATCH, PASSED, AuditEntry
from ngs_lake.fixity.evidence import OpenMismatches
from ngs_lake.fixity.manifest_rows import manifest_rows
from ngs_lake.runs.fixity_instrument import NOT_HASHED
from ngs_lake.runs.fixity_record import FixityRecordStore
from ngs_lake.runs.model import RunFile, Trigger
from ngs_lake.runs.verification import verify_run
from ngs_lake_tests.test_verification_fails_closed import run_of

DATA = Path(__file__).parent / "data" / "real_runs" / "20231107_MIN2_26171SS" / "26171SS0001L02"
RUN_NAME = "20231108_1411_MN32284_AOZ898_35873099"
SUMMARY_NAME = "final_summary_AOZ898_35873099_e8dfad65.txt"
SUMMARY = (DATA / RUN_NAME / SUMMARY_NAME).read_bytes()  # pod5 38, fastq 33 in final dest
HASH_NAME = "output_hash_AOZ898_35873099_e8dfad65.csv"
RUN_FOLDER = f"20231107_MIN2_26171SS/26171SS0001L02/{RUN_NAME}"

FASTQ = b"@read-1\nACGTACGT\n+\nIIIIIIII\n"
FASTQ_SHA256 = "dc7fcdc42710ade1f76c84076a0f2732b0a964f0e68423f6a544ea6909123a21"
ONE_BYTE_CHANGED = b"@read-1\nACGTACGT\n+\nIIIIIIIJ\n"
ONE_BYTE_CHANGED_SHA256 = "a87c3812d0b984105e2f9bf75cbad0dbf54f38a7589ca19ba91f3ac24ca1d82c"
PART_SIZE = 5 * 1024 * 1024  # S3's smallest part but the last
BIG_FASTQ = b"A" * PART_SIZE + b"C" * 1024  # two parts: a COMPOSITE checksum
BIG_FASTQ_SHA256 = "3a07a5e1fdcdddbf1b797c297f19303dac038b27b11e758a34ffca0915df860a"

POD5 = [f"pod5/AOZ898_e8dfad65_35873099_{i}.pod5" for i in range(38)]
FASTQS = [f"fastq_pass/AOZ898_pass_e8dfad65_35873099_{i}.fastq.gz" for i in range(33)]
BIG = FASTQS[0]


def output_hash() -> bytes:
    rows = ["filename,sha256"] + [f"{p}," for p in POD5]
    rows += [f"{BIG},{BIG_FASTQ_SHA256}"] + [f"{p},{FASTQ_SHA256}" for p in FASTQS[1:]]
    return ("\n".join(rows) + "\n").encode()


def client(moto, **config) -> object:
    return boto3.client(
        "s3",
        endpoint_url=moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**config),
    )


def put_multipart(s3, bucket: str, key: str, body: bytes) -> None:
    """Two parts with SHA-256, as the gateway uploads a file of 16 MiB or more."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")
    parts = []
    for number, start in enumerate(range(0, len(body), PART_SIZE), start=1):
        answer = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body[start : start + PART_SIZE],
            ChecksumAlgorithm="SHA256",
        )
        parts.append(
            {
                "PartNumber": number,
                "ETag": answer["ETag"],
                "ChecksumSHA256": answer["ChecksumSHA256"],
            }
        )
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )


def put_nanopore_run(
    moto, bucket: str, run_folder: str = RUN_FOLDER, create: bool = True
) -> dict[str, bytes]:
    """The run in `bucket`: metadata with botocore's default CRC32, FASTQ with SHA-256 (the big
    one in parts), POD5 with no checksum at all (`when_required`). Returns {path: bytes}."""
    s3 = moto.client("s3")
    # An Object Lock bucket refuses a put without a checksum or Content-MD5, on AWS as on moto
    # (MissingUploadObjectWithObjectLockHeaders): there POD5 get botocore's default CRC32.
    bare = client(moto, request_checksum_calculation="when_required") if create else s3
    if create:
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    written = {SUMMARY_NAME: SUMMARY, HASH_NAME: output_hash()}
    for path in (SUMMARY_NAME, HASH_NAME):
        s3.put_object(Bucket=bucket, Key=f"{run_folder}/{path}", Body=written[path])
    for path in POD5:
        bare.put_object(Bucket=bucket, Key=f"{run_folder}/{path}", Body=b"")
        written[path] = b""
    put_multipart(s3, bucket, f"{run_folder}/{BIG}", BIG_FASTQ)
    written[BIG] = BIG_FASTQ
    for path in FASTQS[1:]:
        s3.put_object(
            Bucket=bucket, Key=f"{run_folder}/{path}", Body=FASTQ, ChecksumAlgorithm="SHA256"
        )
        written[path] = FASTQ
    return written


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_a_matching_output_hash_passes_and_every_object_has_its_checksum_recorded(moto):
    bucket = "fixity-minion"
    written = put_nanopore_run(moto, bucket)
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="fixity-catalog")
    run = run_of("minion", "PRM-MAD-01", RUN_FOLDER, bucket)

    result = verify_run(s3, run, [])

    assert (result.passed, result.reasons) == (True, [])
    results = {c.path: (c.result, c.source) for c in result.instrument}
    assert results[BIG] == ("matched", "sha256 of a streaming read")  # composite: read back
    assert results[FASTQS[1]] == ("matched", "S3 FULL_OBJECT SHA-256")
    assert {results[p] for p in POD5} == {(NOT_HASHED, None)}  # never "matched"
    store = FixityRecordStore(s3, "fixity-catalog")
    store.write_verified(run, result, run.started_at)
    rows = manifest_rows(s3, run, store.read(run.run_key))
    manifest = {
        key[len(RUN_FOLDER) + 1 :]: (algorithm, checksum, kind)
        for key, algorithm, checksum, kind in zip(
            rows["key"],
            rows["checksum_algorithm"],
            rows["checksum"],
            rows["checksum_type"],
            strict=True,
        )
    }
    parts = [BIG_FASTQ[:PART_SIZE], BIG_FASTQ[PART_SIZE:]]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    expected = {
        path: ("CRC32", b64(zlib.crc32(body).to_bytes(4, "big")), "FULL_OBJECT")
        for path, body in written.items()
        if path in (SUMMARY_NAME, HASH_NAME)
    }
    expected |= {path: (None, None, "NONE") for path in POD5}  # listed, as having none
    expected |= {p: ("SHA256", b64(hashlib.sha256(FASTQ).digest()), "FULL_OBJECT") for p in FASTQS}
    expected[BIG] = ("SHA256", b64(composite), "COMPOSITE")
    assert manifest == expected
    assert len(manifest) == len(written) == 73


def test_a_file_without_a_checksum_is_read_back_not_passed(moto):
    """A FASTQ put with no checksum whose bytes are not the instrument's: S3 has nothing to
    compare, so the lake reads it back, finds the difference, and the run fails."""
    bucket = "fixity-unchecksummed"
    bare = client(moto, request_checksum_calculation="when_required")
    written = put_nanopore_run(moto, bucket)
    changed = FASTQS[5]
    bare.put_object(Bucket=bucket, Key=f"{RUN_FOLDER}/{changed}", Body=ONE_BYTE_CHANGED)
    result = verify_run(moto.client("s3"), run_of("minion", "PRM-MAD-01", RUN_FOLDER, bucket), [])
    assert written[changed] == FASTQ
    assert result.checksums[changed].checksum_type == "NONE"
    assert (result.passed, result.reasons) == (
        False,
        [
            f"{changed}: sha256 {ONE_BYTE_CHANGED_SHA256} in S3 (sha256 of a streaming read) "
            f"but {FASTQ_SHA256} in {HASH_NAME}"
        ],
    )


def break_glass_s3(lake) -> object:
    """An S3 client acting as the lake's break-glass role (STS AssumeRole on the moto server)."""
    sts = lake.moto.client("sts")
    credentials = sts.assume_role(
        RoleArn=lake.config.lake.break_glass_role_arn, RoleSessionName="fixity-test"
    )["Credentials"]
    return boto3.client(
        "s3",
        endpoint_url=lake.moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def confirmed(lake, run_folder: str, written: dict[str, bytes]) -> str:
    """The run in the ledger with every file, taken to UPLOAD_CONFIRMED as the sensor would."""
    run_key = f"PRM-MAD-01/{run_folder}"
    ledger = lake.ledger()
    now = datetime.now(UTC)
    lake.start_run(run_key, now - timedelta(hours=1))
    ledger.write_batch(
        [RunFile(run_key, p, len(b), now, f"event-{p}", now) for p, b in written.items()], []
    )
    for trigger in (Trigger.MARKER, Trigger.UPLOAD_CONFIRMED):
        ledger.apply(ledger.require_run(run_key), trigger)
    return run_key


def test_a_mismatch_stays_open_until_an_audit_of_that_key_passes(moto):
    """The alert's source: a key's failure is open across passes that sample other keys (a
    rotation moving on resolves nothing), and resolved by a passing audit of the same key."""
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="fixity-open")
    opened = datetime(2026, 12, 7, 3, 15, tzinfo=UTC)

    def entry(key: str, result: str, at: datetime) -> AuditEntry:
        return AuditEntry(
            "PRM-MAD-01/run",
            "bkt",
            key,
            "v1",
            28,
            "SHA256",
            "FULL_OBJECT",
            "x",
            "y",
            "record",
            "v1",
            at,
            "test",
            result,
        )

    mismatches = OpenMismatches(s3, "fixity-open")
    mismatches.update([entry("run/a.fastq", MISMATCH, opened)])
    mismatches.update([entry("run/b.fastq", PASSED, opened + timedelta(days=1))])
    (alert,) = fixity_findings(mismatches.read())
    assert (alert.condition, alert.subject, alert.began_at, alert.severity) == (
        "fixity_mismatch",
        "bkt/run/a.fastq",
        opened,
        "critical",
    )
    assert alert.command == "ngs-lake fixity show PRM-MAD-01/run"
    mismatches.update([entry("run/a.fastq", PASSED, opened + timedelta(days=90))])
    assert fixity_findings(mismatches.read()) == []
