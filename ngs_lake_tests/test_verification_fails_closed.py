"""Verification fails closed: a run passes only if every metadata and marker file was read and
checked (issue 17, "Fail closed").

A run's files are put into its sequencer's bucket on the moto server and the run is taken to
UPLOAD_CONFIRMED in the ledger, as the sensor would; then the `sequencing_run` asset verifies it.
S3 is made to refuse by a real proxy in front of moto (a 403 AccessDenied for GetObject on one
key, or a connection closed without an answer). Outcomes are read back from the ledger (the run's
verification summary, the `run.incomplete#n` outbox entry) and the LIMS consumer queue.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import dagster as dg
import pytest
from botocore.config import Config

from ngs_lake.orchestration.sequencing.assets import sequencing_run
from ngs_lake.runs.model import Run, RunEventType, RunFile, RunState, Trigger, VerificationSummary
from ngs_lake.runs.verification import verify_run
from ngs_lake_tests.fault_proxy import FaultProxy
from ngs_lake_tests.test_ingest import resources_for

DATA = Path(__file__).parent / "data" / "real_runs"
NOVASEQ_X_RUN_INFO = (DATA / "NovaSeqX_WHGS_TruSeqPF_NA12878/RunInfo.xml").read_bytes()
RUN_PARAMETERS = (DATA / "200722_VH00123_5_AAAFWVYM5/RunParameters.xml").read_bytes()
SEQUENCER = "NVX-MAD-01"
BUCKET = "small-lake-nvx-mad-01"
# A NovaSeq X whose share holds three of the 8,229 files its RunInfo.xml implies (the run).
THREE_OF_8229 = {
    "RunInfo.xml": NOVASEQ_X_RUN_INFO,
    "RunParameters.xml": RUN_PARAMETERS,
    "CopyComplete.txt": b"",
}


def uploaded(lake, run_folder: str, files: dict[str, bytes]) -> str:
    """The files in the sequencer's bucket and in the ledger, and the run UPLOAD_CONFIRMED."""
    run_key = f"{SEQUENCER}/{run_folder}"
    s3 = lake.moto.client("s3")
    now = datetime.now(UTC)
    for path, body in files.items():
        s3.put_object(Bucket=BUCKET, Key=f"{run_folder}/{path}", Body=body)
    lake.start_run(run_key, now - timedelta(hours=1))
    ledger = lake.ledger()
    ledger.write_batch(
        [
            RunFile(run_key, path, len(body), now, f"event-{path}", now)
            for path, body in files.items()
        ],
        [],
    )
    for trigger in (Trigger.MARKER, Trigger.UPLOAD_CONFIRMED):
        ledger.apply(ledger.require_run(run_key), trigger)
    return run_key


def verify(lake, instance, run_key: str, endpoint: str | None = None) -> Run:
    """Materialize the run's `sequencing_run` partition (S3 and the ledger through `endpoint`)
    and return the run as the ledger then holds it."""
    instance.add_dynamic_partitions("sequencing_runs", [run_key])
    dg.materialize(
        [sequencing_run],
        partition_key=run_key,
        instance=instance,
        resources=resources_for(lake, endpoint),
        raise_on_error=False,
    )
    return lake.ledger().require_run(run_key)


def incomplete_details(lake, run_key: str, occurrence: int) -> dict:
    (entry,) = [
        e
        for e in lake.ledger().log.outbox(run_key)
        if e.event_type == RunEventType.INCOMPLETE and e.occurrence == occurrence
    ]
    return entry.details


def test_a_run_whose_run_info_cannot_be_read_is_incomplete_naming_it(lake):
    """GetObject on RunInfo.xml denied: the geometry is unknown, so nothing can be judged
    complete. Once it can be read, the same run shows what was hidden: 8,226 files missing."""
    run_folder = "20261201_LH00123_0101_A22DENYRI1"
    run_key = uploaded(lake, run_folder, THREE_OF_8229)
    denied_key = f"GET /{BUCKET}/{run_folder}/RunInfo.xml"
    reason = "RunInfo.xml could not be read: AccessDenied (Access Denied)"
    with (
        FaultProxy(int(lake.moto.endpoint.rsplit(":", 1)[1])) as proxy,
        dg.instance_for_test() as instance,
    ):
        proxy.faults.set(denied_key, "deny")
        denied = verify(lake, instance, run_key, proxy.endpoint)
        assert (denied.state, denied.verify_attempts) == (RunState.INCOMPLETE, 1)
        assert denied.verification == VerificationSummary(missing_count=0, reasons=[reason])
        assert incomplete_details(lake, run_key, 1) == {
            "missing_count": 0,
            "first_missing": [],
            "expected": 0,
            "reasons": [reason],
            "final": False,
        }
        proxy.faults.set(denied_key, None)
        ledger = lake.ledger()
        ledger.apply(denied, Trigger.RETRY)  # as the sensor does after the backoff
        ledger.apply(ledger.require_run(run_key), Trigger.UPLOAD_CONFIRMED)
        readable = verify(lake, instance, run_key, proxy.endpoint)
    assert (readable.state, readable.verify_attempts) == (RunState.INCOMPLETE, 2)
    summary = readable.verification
    assert (summary.missing_count, summary.expected, summary.reasons, summary.first_missing[0]) == (
        8226,
        8229,
        [],
        "Data/Intensities/BaseCalls/L001/C1.1/L001_1.cbcl",
    )
    messages = [json.loads(m["Body"]) for m in lake.consumer_messages("lims")]
    incomplete = [m["details"] for m in messages if m["event_type"] == "run.incomplete"]
    assert [(d["missing_count"], d["expected"], d["reasons"]) for d in incomplete] == [
        (0, 0, [reason]),
        (8226, 8229, []),
    ]


def beyond_the_geometry(run_info: bytes) -> bytes:
    """The NovaSeq X RunInfo.xml with each dimension within its bound, but 2 surfaces x 8 swaths
    x 9 sections x 99 tiles a lane: fifteen times the largest real flow cell's 936."""
    run_info = run_info.replace(
        b'<FlowcellLayout LaneCount="8" SurfaceCount="2" SwathCount="2" TileCount="98">',
        b'<FlowcellLayout LaneCount="1" SurfaceCount="2" SwathCount="8" TileCount="99" '
        b'SectionPerLane="9">',
    ).replace(b'TileNamingConvention="FourDigit"', b'TileNamingConvention="FiveDigit"')
    return run_info[: run_info.index(b"<Tiles>")] + run_info[run_info.index(b"</TileSet>") :]


def test_a_malformed_or_oversized_run_info_leaves_its_run_incomplete_naming_why(lake):
    """Truncated, a layout that is not a number, or a geometry beyond the instruments': the run
    is INCOMPLETE with the parser's reason. A malformed one used to fail the Dagster run and
    stay UPLOAD_CONFIRMED; an oversized one was expanded into tile names, however many."""
    cases = {
        "20261201_LH00123_0102_A22TRUNCD1": NOVASEQ_X_RUN_INFO[:4000],
        "20261201_LH00123_0103_A22NOTNUM1": NOVASEQ_X_RUN_INFO.replace(
            b'LaneCount="8"', b'LaneCount="eight"'
        ),
        "20261201_LH00123_0104_A22OVERSZ1": beyond_the_geometry(NOVASEQ_X_RUN_INFO),
    }
    with dg.instance_for_test() as instance:
        found = {}
        for run_folder, run_info in cases.items():
            run_key = uploaded(lake, run_folder, {**THREE_OF_8229, "RunInfo.xml": run_info})
            run = verify(lake, instance, run_key)
            found[run_folder] = (
                run.state,
                run.verification,
                incomplete_details(lake, run_key, 1).get("reasons")
                if run.verify_attempts
                else None,
            )
    truncated = (
        "RunInfo.xml: not well-formed XML (no element found: line 148, column 24); truncated?"
    )
    not_a_number = "RunInfo.xml: <FlowcellLayout> attribute LaneCount='eight' is not a whole number"
    oversized = "RunInfo.xml declares 14256 tiles per lane; at most 2000"
    assert found == {
        run_folder: (
            RunState.INCOMPLETE,
            VerificationSummary(missing_count=0, reasons=[reason]),
            [reason],
        )
        for run_folder, reason in (
            ("20261201_LH00123_0102_A22TRUNCD1", truncated),
            ("20261201_LH00123_0103_A22NOTNUM1", not_a_number),
            ("20261201_LH00123_0104_A22OVERSZ1", oversized),
        )
    }


def run_of(platform: str, sequencer: str, run_folder: str, bucket: str) -> Run:
    now = datetime.now(UTC)
    return Run(
        run_key=f"{sequencer}/{run_folder}",
        run_folder=run_folder,
        state=RunState.UPLOAD_CONFIRMED,
        sequencer_id=sequencer,
        platform=platform,
        site="madison",
        bucket=bucket,
        share_arn="arn:aws:storagegateway:us-east-1:123456789012:share/share-00000000",
        started_at=now,
        last_activity_at=now,
    )


def bucket_with(moto, bucket: str, run_folder: str, files: dict[str, bytes]) -> None:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=bucket)
    for path, body in files.items():
        s3.put_object(Bucket=bucket, Key=f"{run_folder}/{path}", Body=body)


def test_a_marker_whose_connection_drops_is_unreadable_with_botocores_error(moto):
    """Not only S3's refusals: a botocore error (the connection closed unanswered) fails the
    run too. One attempt, so the test needs no retries to run out."""
    run_folder = "20261201_LH00123_0105_A22DROPPD1"
    bucket_with(moto, "fail-closed-drop", run_folder, THREE_OF_8229)
    run = run_of("novaseq-x", SEQUENCER, run_folder, "fail-closed-drop")
    with FaultProxy(int(moto.endpoint.rsplit(":", 1)[1])) as proxy:
        proxy.faults.set(f"GET /fail-closed-drop/{run_folder}/CopyComplete.txt", "drop")
        s3 = boto3.client(
            "s3",
            endpoint_url=proxy.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
        )
        result = verify_run(s3, run, [])
    assert not result.passed
    assert list(result.unreadable) == ["CopyComplete.txt"]
    assert result.unreadable["CopyComplete.txt"].startswith(
        "CopyComplete.txt could not be read: ConnectionClosedError (Connection was closed"
    )


@pytest.mark.parametrize(
    ("platform", "sequencer", "run_folder", "files", "reason"),
    [
        (
            "promethion",
            "PRM-MAD-01",
            "exp1/sampleA/20261201_1200_1A_PAQ12345_3f2a1b9c",
            {"final_summary_PAQ12345_3f2a1b9c_a1b2c3d4.txt": b"flow_cell_id=PAQ12345\ngarbage\n"},
            "final_summary_PAQ12345_3f2a1b9c_a1b2c3d4.txt: final_summary: line 2 is not "
            "key=value: 'garbage'",
        ),
        (
            "revio",
            "REV-MAD-01",
            "r84046_20261201_120000/1_A01",
            {"metadata/m84046_261201_120000_s1.transferdone": b"hifi_reads.bam\n../escape.bam\n"},
            "metadata/m84046_261201_120000_s1.transferdone: .transferdone: paths must stay "
            "inside the cell folder: ../escape.bam",
        ),
        (
            "aviti",
            "AV-MAD-01",
            "20261201_AV123456_failclosed",
            {"RunParameters.json": b"{", "RunUploaded.json": b'{"Outcome": "OutcomeCompleted"}'},
            "RunParameters.json: not JSON (JSONDecodeError: Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1))",
        ),
    ],
    ids=["nanopore", "pacbio", "element"],
)
def test_every_familys_unparseable_file_fails_verification_naming_it(
    moto, platform, sequencer, run_folder, files, reason
):
    bucket = f"fail-closed-{platform}"
    bucket_with(moto, bucket, run_folder, files)
    result = verify_run(moto.client("s3"), run_of(platform, sequencer, run_folder, bucket), [])
    assert (result.passed, result.reasons) == (False, [reason])
