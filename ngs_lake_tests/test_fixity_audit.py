"""Fixity through a provisioned small lake (issue 33), in one scenario so the lake is provisioned
and the run put once: two copies of a MinION run in the PromethION's Object Lock bucket; in the
second the break-glass role puts a new version of one FASTQ with one byte changed before
verification. The first completes with its fixity record; the second is INCOMPLETE, naming the
file and both digests. Two daily audit passes (`audit_fraction: 0.5`) together recompute each
of the first run's objects once and find nothing; then the break-glass role changes one of its
files at rest, the next pass finds it, the alerts pass raises one `fixity_mismatch` alert (and not
again on the next pass), and `ngs-lake fixity show` prints the WORM evidence."""

import base64
from datetime import UTC, datetime, timedelta

import dagster as dg
from click.testing import CliRunner

from ngs_lake.alerts.dispatch import alert_pass
from ngs_lake.cli import main
from ngs_lake.config.fixity_settings import FixitySettings
from ngs_lake.fixity.audit import CURRENT_DIFFERS, PASSED
from ngs_lake.fixity.audit_pass import audit_lake
from ngs_lake.runs.fixity_record import FixityRecordStore
from ngs_lake.runs.model import RunState
from ngs_lake.runs.verify_pass import verify_due
from ngs_lake_tests.conftest import local_environment
from ngs_lake_tests.test_fixity_verification import (
    FASTQ_SHA256,
    FASTQS,
    HASH_NAME,
    ONE_BYTE_CHANGED,
    ONE_BYTE_CHANGED_SHA256,
    RUN_FOLDER,
    break_glass_s3,
    confirmed,
    put_nanopore_run,
)
from ngs_lake_tests.test_verification_fails_closed import verify


def b64_of_hex(digest: str) -> str:
    return base64.b64encode(bytes.fromhex(digest)).decode()


def half_a_day(document: dict) -> None:
    document["fixity"] = {"audit_fraction": 0.5, "audit_period_days": 2}


def verified_pair(lake) -> tuple[str, dict[str, bytes]]:
    """The intact run COMPLETED, the changed one INCOMPLETE naming the file and both digests."""
    bucket = lake.names.bucket("PRM-MAD-01")
    intact, broken = RUN_FOLDER, RUN_FOLDER.replace("26171SS0001L02", "26171SS0001L03")
    written = put_nanopore_run(lake.moto, bucket, intact, create=False)
    put_nanopore_run(lake.moto, bucket, broken, create=False)
    changed = FASTQS[7]
    break_glass_s3(lake).put_object(
        Bucket=bucket, Key=f"{broken}/{changed}", Body=ONE_BYTE_CHANGED, ChecksumAlgorithm="SHA256"
    )
    keys = [confirmed(lake, folder, written) for folder in (intact, broken)]
    ledger = lake.ledger()
    store = FixityRecordStore(lake.moto.client("s3"), lake.config.lake.catalog_bucket)
    # The intact run as the events sensor's tick verifies it; the other as complete_run does,
    # which records what failed (the tick leaves a failure to it).
    tick = verify_due(ledger, lake.clients.s3(), [ledger.require_run(keys[0])], 60, store)
    assert [v.run.run_key for v in tick.verified] == [keys[0]]
    with dg.instance_for_test() as instance:
        runs = [ledger.require_run(keys[0]), verify(lake, instance, keys[1])]
    assert [r.state for r in runs] == [RunState.COMPLETED, RunState.INCOMPLETE]
    assert runs[1].verification.reasons == [
        f"{changed}: sha256 {ONE_BYTE_CHANGED_SHA256} in S3 (S3 FULL_OBJECT SHA-256) "
        f"but {FASTQ_SHA256} in {HASH_NAME}"
    ]
    record = store.read(keys[0])
    assert record is not None and store.read(keys[1]) is None
    assert len(record.objects) == 73
    assert {o.path for o in record.objects if o.instrument_result == "matched"} == set(FASTQS)
    return keys[0], written


def test_fixity_from_verification_to_an_alert_at_rest(lake_with):
    lake = lake_with(half_a_day)
    run_key, written = verified_pair(lake)
    now = datetime.now(UTC)
    first = audit_lake(lake.clients, lake.config, now.date(), now)
    second = audit_lake(lake.clients, lake.config, now.date() + timedelta(1), now)
    audited = [e.key for e in first.entries + second.entries]
    assert sorted(audited) == sorted(f"{RUN_FOLDER}/{p}" for p in written)  # each once
    assert {e.result for e in first.entries + second.entries} == {PASSED}
    assert first.open_mismatches == second.open_mismatches == {}

    bucket = lake.names.bucket("PRM-MAD-01")
    changed = FASTQS[3]
    break_glass_s3(lake).put_object(
        Bucket=bucket, Key=f"{RUN_FOLDER}/{changed}", Body=ONE_BYTE_CHANGED
    )
    later = now + timedelta(days=2)
    found = audit_lake(lake.clients, lake.config, later.date(), later)
    (failure,) = found.failures
    assert (failure.key, failure.result) == (f"{RUN_FOLDER}/{changed}", CURRENT_DIFFERS)
    assert (failure.expected, failure.digest) == (
        b64_of_hex(FASTQ_SHA256),  # the record's, of the version verification read
        b64_of_hex(ONE_BYTE_CHANGED_SHA256),  # the current version's bytes
    )
    # The same pass with S3 Batch Operations recomputing (the stand-in serves the jobs): every
    # recorded version read back from the job's completion report, the changed key still found.
    batch = lake.config.model_copy(
        update={"fixity": FixitySettings(audit_fraction=1, recompute="batch_operations")}
    )
    via_batch = audit_lake(lake.clients, batch, later.date(), later, wait_seconds=30)
    recomputed = [e for e in via_batch.entries if e.result != CURRENT_DIFFERS]
    assert len(recomputed) == 73 and {e.result for e in recomputed} == {PASSED}
    assert [e.key for e in via_batch.failures] == [f"{RUN_FOLDER}/{changed}"]
    assert {e.verified_by for e in via_batch.entries} == {
        "ngs-lake fixity audit (batch operations)"
    }
    evaluation, report = alert_pass(lake.clients, lake.config, later)
    fixity = [a for a in evaluation.alerts if a.condition == "fixity_mismatch"]
    assert [a.subject for a in fixity] == [f"{bucket}/{RUN_FOLDER}/{changed}"]
    assert [i for i in report.opened if i.startswith("fixity_mismatch/")] == [fixity[0].alert_id]
    _, again = alert_pass(lake.clients, lake.config, later + timedelta(minutes=1))
    assert not [i for i in again.opened if i.startswith("fixity_mismatch/")]  # raised once

    shown = CliRunner().invoke(
        main,
        ["fixity", "show", run_key, "--config", str(lake.config_path)],
        env=local_environment(lake.moto.endpoint, lake.gateway.endpoint),
    )  # in this process: a child would spend seconds importing what this one has
    assert shown.exit_code == 0, shown.output
    assert f"runs/{run_key}/verification.csv (73 objects)" in shown.output
    assert CURRENT_DIFFERS in shown.output and changed in shown.output
    lock = lake.moto.client("s3").get_object_lock_configuration(
        Bucket=lake.names.fixity_evidence_bucket
    )["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert lock["Mode"] == "COMPLIANCE"
