"""Sample sheet versions in the ledger (issue #31), on the moto server through boto3: each S3 version
of a run's sheet recorded once (HeadObject's VersionId + the SHA-256 of its bytes), a redelivered
event recording nothing, a 3,072-sample sheet kept out of every item, a later version of a
completed run announced once, an identical re-save not announced, and an operator's pin recorded
and announced with nothing overwritten."""

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from ngs_lake.alerts.sheet_conditions import samplesheet_findings
from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.cli import main as cli_main
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames
from ngs_lake.provisioning.tables import create_table_request, table_specs
from ngs_lake.runs.fixity_record import FixityRecordStore
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.lifecycle import complete
from ngs_lake.runs.model import NewRun, RunEventType, RunState, Trigger
from ngs_lake.runs.sample_manifest import SampleManifests
from ngs_lake.runs.sample_sheets import SampleSheetRecorder, SheetRefused
from ngs_lake.runs.verification import S3Object, Verification
from ngs_lake_tests.conftest import REPO, SMALL_CONFIG, MotoServer, local_environment

SHEET = (REPO / "ngs_lake_tests/data/samplesheets/umccr_cloud-sheet-with-settings.csv").read_bytes()
MAX_ITEM_BYTES = 16 * 1024  # a run item or run-log item of a sheet stays far under 400 KB


@dataclass
class SheetLake:
    """The run tables and the NovaSeq X bucket (versioned) of the small lake, on moto."""

    moto: MotoServer
    config: LakeConfig
    config_path: Path
    clients: AwsClients

    @property
    def names(self) -> LakeNames:
        return LakeNames.of(self.config)

    @property
    def bucket(self) -> str:
        return self.config.bucket_name("NVX-MAD-01")

    def ledger(self) -> RunLedger:
        return RunLedger(self.clients, self.names)

    def start_run(self, run_key: str) -> None:
        folder = run_key.split("/", 1)[1]
        self.ledger().start_run(
            NewRun(
                run_key,
                folder,
                "NVX-MAD-01",
                "novaseq-x",
                "madison",
                "madison",
                "America/Chicago",
                self.bucket,
                "arn:share",
                datetime.now(UTC),
            )
        )

    def cli(self, *args: str):
        """`ngs-lake <args>` in this process (a child process costs seconds of imports)."""
        env = local_environment(self.moto.endpoint, "http://127.0.0.1:9")
        return CliRunner().invoke(cli_main, [*args, "--config", str(self.config_path)], env=env)


@pytest.fixture(scope="module")
def lake(moto_server: MotoServer) -> Iterator[SheetLake]:
    """Only what sheet versions touch, on the session's moto server: no gateway, no shares."""
    moto_server.reset()
    config = load_lake_config(SMALL_CONFIG)
    target = AwsTarget(region="us-east-1", endpoint_url=moto_server.endpoint, name="local")
    clients = AwsClients(
        target, credentials={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    )
    ddb = clients.dynamodb()
    for spec in table_specs(LakeNames.of(config), None):
        ddb.create_table(**create_table_request(spec))
    s3 = clients.s3()
    bucket = config.bucket_name("NVX-MAD-01")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    yield SheetLake(moto_server, config, SMALL_CONFIG, clients)
    moto_server.reset()


@pytest.fixture
def run_key(request: pytest.FixtureRequest) -> str:
    """A run of its own for each test (its number from the test's name)."""
    number = sum(map(ord, request.node.name)) % 9000 + 1000
    return f"NVX-MAD-01/20261129_LH00123_{number}_A22F7KLT4"


def _put_sheet(lake, run_key: str, data: bytes) -> str:
    folder = run_key.split("/", 1)[1]
    answer = lake.clients.s3().put_object(
        Bucket=lake.bucket, Key=f"{folder}/SampleSheet.csv", Body=data
    )
    return answer["VersionId"]


def _item_bytes(item: dict) -> int:
    """An item's size as DynamoDB counts it, closely enough: attribute names plus values
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)."""

    def size(value: dict) -> int:
        ((kind, inner),) = value.items()
        if kind in ("S", "N", "B"):
            return len(str(inner).encode())
        if kind == "M":
            return 3 + sum(len(k.encode()) + size(v) + 1 for k, v in inner.items())
        if kind == "L":
            return 3 + sum(size(v) + 1 for v in inner)
        return 1

    return sum(len(name.encode()) + size(value) for name, value in item.items())


def _largest_items(lake, run_key: str) -> tuple[int, int]:
    ddb = lake.moto.client("dynamodb")
    run_item = ddb.get_item(TableName=lake.names.runs_table, Key={"run_key": {"S": run_key}})
    log = ddb.query(
        TableName=lake.names.run_log_table,
        KeyConditionExpression="run_key = :r",
        ExpressionAttributeValues={":r": {"S": run_key}},
    )["Items"]
    return _item_bytes(run_item["Item"]), max(_item_bytes(i) for i in log)


def _complete(lake, run_key: str) -> None:
    """Move the run to COMPLETED through the transition table, as the lifecycle does."""
    ledger = lake.ledger()
    for trigger in (Trigger.MARKER, Trigger.UPLOAD_CONFIRMED, Trigger.VERIFIED):
        run = ledger.require_run(run_key)
        fields = {"samplesheet_at_completion": run.samplesheet} if run.samplesheet else {}
        ledger.apply(run, trigger, fields=fields if trigger == Trigger.VERIFIED else {})
    assert ledger.require_run(run_key).state == RunState.COMPLETED


def _changes(lake, run_key: str) -> int:
    types = [e.event_type for e in lake.ledger().log.outbox(run_key)]
    return types.count(RunEventType.SAMPLESHEET_CHANGED)


def test_each_version_is_recorded_once_and_a_redelivery_records_nothing(lake, run_key):
    lake.start_run(run_key)
    recorder = SampleSheetRecorder(lake.clients.s3(), lake.ledger())
    version_id = _put_sheet(lake, run_key, SHEET)
    first = recorder.record_version(run_key, "SampleSheet.csv")
    assert first is not None and first.version_id == version_id
    assert recorder.record_version(run_key, "SampleSheet.csv") is None  # redelivered event
    (held,) = recorder.versions(run_key)
    assert held.digest == "ff8d5a98f339404c5ebf466468bf14d163053629e16641d19a9da4da7e9548b2"
    run = lake.ledger().require_run(run_key)
    assert run.samplesheet["status"] == "ok"
    assert (run.samplesheet["sample_count"], run.samplesheet["projects"]) == (3, ["SampleProject"])
    assert run.sheet_versions == 1
    assert "MyFirstSample" not in json.dumps(run.samplesheet)  # no sample in the run item


def _big_sheet(lanes: int = 8, per_lane: int = 384) -> bytes:
    rng = random.Random(31)
    rows = ["Lane,Sample_ID,index,index2,Sample_Project"]
    for lane in range(1, lanes + 1):
        for n in range(per_lane):
            i1 = "".join(rng.choice("ACGT") for _ in range(10))
            i2 = "".join(rng.choice("ACGT") for _ in range(10))
            rows.append(f"{lane},ACC{lane}{n:04d}A1,{i1},{i2},P{n % 12:02d}")
    head = "[Header]\nFileFormatVersion,2\nRunName,big\n[Reads]\nRead1Cycles,151\n"
    return (head + "[BCLConvert_Data]\n" + "\n".join(rows) + "\n").encode()


def test_a_3072_sample_sheet_keeps_every_item_small(lake, run_key, capsys):
    lake.start_run(run_key)
    data = _big_sheet()
    _put_sheet(lake, run_key, data)
    recorder = SampleSheetRecorder(lake.clients.s3(), lake.ledger())
    version = recorder.record_version(run_key, "SampleSheet.csv")
    assert (version.status, version.sample_count, version.projects_total) == ("ok", 3072, 12)
    run_item, log_item = _largest_items(lake, run_key)
    with capsys.disabled():
        print(
            f"\n3,072-sample sheet ({len(data)} bytes): run item {run_item} B, largest run-log "
            f"item {log_item} B"
        )
    assert run_item < MAX_ITEM_BYTES and log_item < MAX_ITEM_BYTES


def test_a_later_version_of_a_completed_run_is_announced_once(lake, run_key):
    lake.start_run(run_key)
    recorder = SampleSheetRecorder(lake.clients.s3(), lake.ledger())
    _put_sheet(lake, run_key, SHEET)
    recorder.record_version(run_key, "SampleSheet.csv")
    _complete(lake, run_key)
    # The same bytes saved again: a new S3 version, recorded, but no change for consumers.
    _put_sheet(lake, run_key, SHEET)
    assert recorder.record_version(run_key, "SampleSheet.csv") is not None
    assert _changes(lake, run_key) == 0
    # A corrected sheet: announced once, however often its event comes.
    _put_sheet(lake, run_key, SHEET.replace(b"2,MyFirstSample", b"2,MyThirdSample"))
    for _ in range(3):
        recorder.record_version(run_key, "SampleSheet.csv")
    assert _changes(lake, run_key) == 1
    versions = recorder.versions(run_key)
    assert [v.number for v in versions] == [1, 2, 3]
    run = lake.ledger().require_run(run_key)
    assert run.samplesheet["digest"] == versions[-1].digest
    assert run.samplesheet_at_completion["digest"] == versions[0].digest


def test_an_operator_pins_a_version_recorded_and_announced_nothing_overwritten(lake, run_key):
    lake.start_run(run_key)
    recorder = SampleSheetRecorder(lake.clients.s3(), lake.ledger())
    first_id = _put_sheet(lake, run_key, SHEET)
    recorder.record_version(run_key, "SampleSheet.csv")
    _complete(lake, run_key)
    _put_sheet(lake, run_key, SHEET.replace(b"2,MyFirstSample", b"2,MyThirdSample"))
    recorder.record_version(run_key, "SampleSheet.csv")
    result = lake.cli("runs", "pin-sheet", run_key, first_id, "--reason", "lab: v2 was a draft")
    assert result.exit_code == 0, result.output
    assert _changes(lake, run_key) == 2
    run = lake.ledger().require_run(run_key)
    assert (run.samplesheet["version_id"], run.samplesheet["pinned"]) == (
        first_id,
        "lab: v2 was a draft",
    )
    # A later version is recorded but the pin holds, and it is not announced.
    _put_sheet(lake, run_key, SHEET.replace(b"MySecondSample", b"MyFourthSample"))
    assert recorder.record_version(run_key, "SampleSheet.csv") is not None
    assert lake.ledger().require_run(run_key).samplesheet["version_id"] == first_id
    assert _changes(lake, run_key) == 2
    listing = lake.cli("runs", "sheets", run_key)
    assert listing.exit_code == 0, listing.output
    assert listing.output.count("SampleSheet.csv") == 3
    assert "pinned: lab: v2 was a draft" in listing.output
    assert "MyFirstSample" not in listing.output


def _archived_sheet(lake, run_key: str) -> Verification:
    """The run's sheet in S3 Glacier Flexible Retrieval, as a lifecycle rule leaves it: HeadObject
    answers, GetObject is refused with InvalidObjectState until a copy is restored
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). Also the listing the
    run's verification found."""
    folder = run_key.split("/", 1)[1]
    key = f"{folder}/SampleSheet.csv"
    s3 = lake.clients.s3()
    answer = s3.put_object(Bucket=lake.bucket, Key=key, Body=SHEET, StorageClass="GLACIER")
    ledger = lake.ledger()
    for trigger in (Trigger.MARKER, Trigger.UPLOAD_CONFIRMED):
        ledger.apply(ledger.require_run(run_key), trigger)
    s3.create_bucket(Bucket=lake.config.lake.catalog_bucket)
    sheet = S3Object(key, len(SHEET), answer["ETag"])
    return Verification(run_key, objects={"SampleSheet.csv": sheet})


def _complete_for_real(lake, run_key: str, verification: Verification):
    ledger = lake.ledger()
    s3 = lake.clients.s3()
    records = FixityRecordStore(s3, lake.config.lake.catalog_bucket)
    complete(
        ledger, ledger.require_run(run_key), verification, records, SampleSheetRecorder(s3, ledger)
    )
    return ledger.require_run(run_key)


def test_a_sheet_s3_refuses_completes_the_run_as_unreadable_naming_it(lake, run_key):
    lake.start_run(run_key)
    verification = _archived_sheet(lake, run_key)
    recorder = SampleSheetRecorder(lake.clients.s3(), lake.ledger())
    with pytest.raises(SheetRefused, match="InvalidObjectState"):  # at its upload event
        recorder.record_version(run_key, "SampleSheet.csv")
    run = _complete_for_real(lake, run_key, verification)
    folder = run_key.split("/", 1)[1]
    reason = f"could not read s3://{lake.bucket}/{folder}/SampleSheet.csv: InvalidObjectState"
    assert run.state == RunState.COMPLETED
    assert (run.samplesheet["status"], run.samplesheet["reason"]) == ("unreadable", reason)
    assert run.samplesheet_at_completion == run.samplesheet
    (alert,) = samplesheet_findings([run], datetime.now(UTC))
    assert (alert.subject, alert.condition) == (run_key, "samplesheet_unreadable")
    assert reason in alert.summary and "MyFirstSample" not in alert.summary
    (entry,) = [
        e for e in lake.ledger().log.outbox(run_key) if e.event_type == RunEventType.COMPLETED
    ]
    block = SampleManifests(lake.clients.s3(), lake.config.lake.catalog_bucket).block(
        run, entry, {}
    )
    body = lake.clients.s3().get_object(Bucket=block["manifest_bucket"], Key=block["manifest_key"])
    manifest = json.loads(body["Body"].read())
    assert (manifest["samples"], manifest["no_samples"]) == (
        [],
        f"samplesheet: unreadable: {reason}",
    )
    assert lake.cli("runs", "sheets", run_key).output.strip().endswith(reason)
    # The lab writes the sheet again (a readable copy): recorded, and consumers told once.
    _put_sheet(lake, run_key, SHEET)
    assert recorder.record_version(run_key, "SampleSheet.csv") is not None
    assert _changes(lake, run_key) == 1
    assert samplesheet_findings([lake.ledger().require_run(run_key)], datetime.now(UTC)) == []


def test_a_sheet_read_at_completion_after_its_event_failed_is_recorded(lake, run_key):
    lake.start_run(run_key)
    verification = _archived_sheet(lake, run_key)
    recorder = SampleSheetRecorder(lake.clients.s3(), lake.ledger())
    with pytest.raises(SheetRefused, match="InvalidObjectState"):
        recorder.record_version(run_key, "SampleSheet.csv")
    folder = run_key.split("/", 1)[1]
    lake.clients.s3().restore_object(
        Bucket=lake.bucket, Key=f"{folder}/SampleSheet.csv", RestoreRequest={"Days": 1}
    )
    run = _complete_for_real(lake, run_key, verification)
    (version,) = recorder.versions(run_key)
    assert run.state == RunState.COMPLETED
    assert run.samplesheet_at_completion["digest"] == version.digest
    assert (run.samplesheet["status"], run.samplesheet["sample_count"]) == ("ok", 3)
