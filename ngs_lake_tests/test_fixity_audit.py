"""The fixity audit at rest (issue 33), on a provisioned small lake: a MinION run is verified
and completed (its fixity record written), audited clean, then the break-glass role puts a new
version of one FASTQ with one byte changed. The next audit pass finds it, the alerts pass raises
one `fixity_mismatch` alert (and not again on the next pass), and `ngs-lake fixity show` prints
the WORM evidence. The lake audits every object every day (`audit_fraction: 1`)."""

import base64
from datetime import UTC, datetime, timedelta

import dagster as dg
from click.testing import CliRunner

from ngs_lake.alerts.dispatch import alert_pass
from ngs_lake.cli import main
from ngs_lake.fixity.audit import CURRENT_DIFFERS, PASSED
from ngs_lake.fixity.audit_pass import audit_lake
from ngs_lake.runs.model import RunState
from ngs_lake_tests.conftest import local_environment
from ngs_lake_tests.test_fixity_verification import (
    FASTQ_SHA256,
    FASTQS,
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


def every_object_daily(document: dict) -> None:
    document["fixity"] = {"audit_fraction": 1, "audit_period_days": 1}


def test_a_new_version_at_rest_is_found_by_the_next_audit_and_alerted_once(lake_with):
    lake = lake_with(every_object_daily)
    bucket = lake.names.bucket("PRM-MAD-01")
    written = put_nanopore_run(lake.moto, bucket, RUN_FOLDER, create=False)
    run_key = confirmed(lake, RUN_FOLDER, written)
    with dg.instance_for_test() as instance:
        assert verify(lake, instance, run_key).state == RunState.COMPLETED
    now = datetime.now(UTC)

    clean = audit_lake(lake.clients, lake.config, now.date(), now)

    assert len(clean.entries) == len(written) == 73
    assert {e.result for e in clean.entries} == {PASSED}
    assert clean.open_mismatches == {}
    changed = FASTQS[3]
    break_glass_s3(lake).put_object(
        Bucket=bucket, Key=f"{RUN_FOLDER}/{changed}", Body=ONE_BYTE_CHANGED
    )
    later = now + timedelta(days=1)

    found = audit_lake(lake.clients, lake.config, later.date(), later)

    (failure,) = found.failures
    assert (failure.key, failure.result) == (f"{RUN_FOLDER}/{changed}", CURRENT_DIFFERS)
    assert (failure.expected, failure.digest) == (
        b64_of_hex(FASTQ_SHA256),  # the record's, of the version verification read
        b64_of_hex(ONE_BYTE_CHANGED_SHA256),  # the current version's bytes
    )
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
