"""The inventory catalogue: real-format S3 Inventory reports in the lake's inventory bucket on a
moto server, catalogued into Parquet in the catalogue bucket, queried back with DuckDB.

Reports are built for known object sets through the producer's writers, so each test knows
exactly which rows, runs and totals the catalogue must hold.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from ngs_lake.config.model import DEFAULT_INVENTORY_FIELDS
from ngs_lake.inventory.query import mirror_catalogue, open_catalogue
from ngs_lake.inventory.refresh import partition_key, refresh_catalogue
from ngs_lake.inventory.report import report_root
from ngs_lake.local.inventory_writer import publish_report, report_columns
from ngs_lake.orchestration.inventory.assets import inventory_catalog
from ngs_lake.runs.model import RunFile
from ngs_lake_tests.conftest import REPO
from ngs_lake_tests.test_ingest import resources_for

RUN = "20261128_LH00123_0042_A22KJ3LT3"
BUCKET = "small-lake-nvx-mad-01"
ROOT = report_root("inventory", BUCKET, "small-lake-inventory")
FIELDS = DEFAULT_INVENTORY_FIELDS  # what provisioning asks S3 Inventory for
UPLOADED = datetime(2026, 11, 28, 21, 0, tzinfo=UTC)


def row(key: str, size: int, **overrides: object) -> dict:
    values = {
        "Bucket": BUCKET,
        "Key": key,
        "Size": size,
        "LastModifiedDate": UPLOADED,
        "ETag": hashlib.md5(key.encode()).hexdigest(),
        "StorageClass": "STANDARD",
        "EncryptionStatus": "SSE-KMS",
        "ObjectLockMode": "COMPLIANCE",
        "ObjectLockRetainUntilDate": UPLOADED + timedelta(days=365),
        "ChecksumAlgorithm": "SHA256",
    }
    return values | overrides


# A run with a directory object, a sample sheet whose name has spaces and non-ASCII letters,
# and a stray object outside any run folder.
OBJECTS = [
    row(f"{RUN}/", 0),
    row(f"{RUN}/RunInfo.xml", 1200),
    row(f"{RUN}/Sample Sheets/échantillon 1.csv", 300),
    row(f"{RUN}/Data/Intensities/BaseCalls/L001/C1.1/L001_1.cbcl", 5000),
    row(f"{RUN}/CopyComplete.txt", 0),
    row("notes/read me+later.txt", 77),
]


def publish(lake, rows, created_at, file_format="CSV", rows_per_file=250_000) -> str:
    return publish_report(
        lake.clients.s3(),
        destination_bucket="small-lake-inventory",
        root=ROOT,
        source_bucket=BUCKET,
        file_format=file_format,
        columns=report_columns(FIELDS),
        rows=rows,
        created_at=created_at,
        rows_per_file=rows_per_file,
    )


def catalogue(lake, tmp_path):
    mirror = mirror_catalogue(lake.clients.s3(), "small-lake-catalog", tmp_path / "mirror")
    return open_catalogue(mirror)


def only_nvx(lake, **kwargs):
    return refresh_catalogue(lake.clients, lake.config, sequencer_ids=["NVX-MAD-01"], **kwargs)


def test_csv_report_keys_are_url_encoded_as_aws_writes_them(lake):
    manifest_key = publish(lake, OBJECTS, datetime.now(UTC))
    s3 = lake.clients.s3()
    manifest = json.loads(
        s3.get_object(Bucket="small-lake-inventory", Key=manifest_key)["Body"].read()
    )
    # The fields of AWS's published manifest.json example, and its CSV fileSchema spelling.
    assert set(manifest) == {
        "sourceBucket",
        "destinationBucket",
        "version",
        "creationTimestamp",
        "fileFormat",
        "fileSchema",
        "files",
    }
    assert manifest["fileSchema"] == (
        "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass, EncryptionStatus, "
        "ObjectLockRetainUntilDate, ObjectLockMode, ChecksumAlgorithm"
    )
    assert manifest_key.startswith(f"inventory/{BUCKET}/small-lake-inventory/")
    assert manifest_key.endswith("/manifest.json")
    checksum = s3.get_object(
        Bucket="small-lake-inventory",
        Key=manifest_key.replace("manifest.json", "manifest.checksum"),
    )["Body"].read()
    raw_manifest = s3.get_object(Bucket="small-lake-inventory", Key=manifest_key)["Body"].read()
    assert checksum.decode() == hashlib.md5(raw_manifest).hexdigest()
    (data,) = manifest["files"]
    body = s3.get_object(Bucket="small-lake-inventory", Key=data["key"])["Body"].read()
    assert hashlib.md5(body).hexdigest() == data["MD5checksum"]
    lines = gzip.decompress(body).decode().splitlines()
    assert len(lines) == 6  # no header
    assert lines[2] == (
        f'"{BUCKET}","{RUN}/Sample+Sheets/%C3%A9chantillon+1.csv","300",'
        '"2026-11-28T21:00:00.000Z","'
        + hashlib.md5(f"{RUN}/Sample Sheets/échantillon 1.csv".encode()).hexdigest()
        + '","STANDARD","SSE-KMS","2027-11-28T21:00:00.000Z","COMPLIANCE","SHA256"'
    )
    assert lines[5].split(",")[1] == '"notes/read+me%2Blater.txt"'


def documented_view_columns() -> dict[str, list[str]]:
    """The views' table in the manual: view -> its columns, in order."""
    text = (REPO / "docs" / "operators" / "catalogue-and-capacity.md").read_text()
    rows = re.findall(
        r"^\| `(objects|runs|sequencers|samples)` \| [^|]+ \| (.+) \|$", text, re.MULTILINE
    )
    return {view: re.findall(r"`([a-z_0-9]+)`", columns) for view, columns in rows}


@pytest.mark.parametrize("file_format", ["CSV", "Parquet"])
def test_catalogue_rows_and_aggregates(lake, tmp_path, file_format):
    publish(lake, OBJECTS, datetime.now(UTC), file_format=file_format, rows_per_file=4)
    refresh = only_nvx(lake)
    (bucket,) = refresh.buckets
    assert bucket.status == "catalogued", bucket.error
    assert (bucket.summary.objects, bucket.summary.bytes) == (6, 6577)
    assert (bucket.summary.runs, bucket.summary.stray_objects) == (1, 1)
    with catalogue(lake, tmp_path) as db:
        rows = db.execute(
            "SELECT key, run_key, relative_path, size FROM objects ORDER BY key"
        ).fetchall()
        assert rows == [
            (f"{RUN}/", f"NVX-MAD-01/{RUN}", "", 0),
            (f"{RUN}/CopyComplete.txt", f"NVX-MAD-01/{RUN}", "CopyComplete.txt", 0),
            (
                f"{RUN}/Data/Intensities/BaseCalls/L001/C1.1/L001_1.cbcl",
                f"NVX-MAD-01/{RUN}",
                "Data/Intensities/BaseCalls/L001/C1.1/L001_1.cbcl",
                5000,
            ),
            (f"{RUN}/RunInfo.xml", f"NVX-MAD-01/{RUN}", "RunInfo.xml", 1200),
            (
                f"{RUN}/Sample Sheets/échantillon 1.csv",
                f"NVX-MAD-01/{RUN}",
                "Sample Sheets/échantillon 1.csv",
                300,
            ),
            ("notes/read me+later.txt", None, None, 77),
        ]
        assert db.execute(
            "SELECT site, sequencer_id, run_key, files, bytes FROM runs"
        ).fetchall() == [("madison", "NVX-MAD-01", f"NVX-MAD-01/{RUN}", 4, 6500)]
        assert db.execute(
            "SELECT site, platform, runs, objects, bytes, stray_objects FROM sequencers"
        ).fetchall() == [("madison", "novaseq-x", 1, 6, 6577, 1)]
        # The manual lists each view's columns (docs/operators/catalogue-and-capacity.md).
        for view, columns in documented_view_columns().items():
            described = [d[0] for d in db.execute(f"SELECT * FROM {view} LIMIT 0").description]
            assert described == columns, (view, " ".join(described))
    objects = pq.read_table(
        io.BytesIO(
            lake.clients.s3()
            .get_object(
                Bucket="small-lake-catalog", Key=partition_key("objects", "madison", "NVX-MAD-01")
            )["Body"]
            .read()
        )
    )
    assert objects.num_rows == 6


def test_a_manifest_whose_checksum_does_not_match_is_rejected_and_the_catalogue_stays(
    lake, tmp_path
):
    publish(lake, OBJECTS, datetime.now(UTC) - timedelta(days=1))
    assert only_nvx(lake).buckets[0].status == "catalogued"
    newer = publish(lake, OBJECTS[:2], datetime.now(UTC))
    s3 = lake.clients.s3()
    s3.put_object(
        Bucket="small-lake-inventory",
        Key=newer.replace("manifest.json", "manifest.checksum"),
        Body=b"0123456789abcdef0123456789abcdef",
    )
    (bucket,) = only_nvx(lake).buckets
    assert bucket.status == "rejected"
    assert bucket.error == (
        f"s3://small-lake-inventory/{newer}: manifest.checksum says "
        "0123456789abcdef0123456789abcdef but the manifest's MD5 is "
        + hashlib.md5(
            s3.get_object(Bucket="small-lake-inventory", Key=newer)["Body"].read()
        ).hexdigest()
        + "; the report is rejected"
    )
    with catalogue(lake, tmp_path) as db:
        assert db.execute("SELECT count(*) FROM objects").fetchone() == (6,)


def test_a_data_file_whose_md5_does_not_match_is_rejected_by_name(lake):
    manifest_key = publish(lake, OBJECTS, datetime.now(UTC))
    s3 = lake.clients.s3()
    manifest = json.loads(
        s3.get_object(Bucket="small-lake-inventory", Key=manifest_key)["Body"].read()
    )
    data_key = manifest["files"][0]["key"]
    s3.put_object(Bucket="small-lake-inventory", Key=data_key, Body=gzip.compress(b'"x","y"\n'))
    (bucket,) = only_nvx(lake).buckets
    assert bucket.status == "rejected"
    assert f"data file {data_key} has MD5" in bucket.error
    assert bucket.error.startswith(f"s3://small-lake-inventory/{manifest_key}: ")


def test_a_data_file_with_one_byte_changed_and_the_same_size_is_rejected_by_its_md5(lake):
    manifest_key = publish(lake, OBJECTS, datetime.now(UTC))
    s3 = lake.clients.s3()
    manifest = json.loads(
        s3.get_object(Bucket="small-lake-inventory", Key=manifest_key)["Body"].read()
    )
    (entry,) = manifest["files"]
    body = bytearray(s3.get_object(Bucket="small-lake-inventory", Key=entry["key"])["Body"].read())
    body[len(body) // 2] ^= 0x01  # one bit of one byte: the size stays, only the MD5 can tell
    s3.put_object(Bucket="small-lake-inventory", Key=entry["key"], Body=bytes(body))
    (bucket,) = only_nvx(lake).buckets
    assert bucket.status == "rejected"
    assert bucket.error == (
        f"s3://small-lake-inventory/{manifest_key}: data file {entry['key']} has MD5 "
        f"{hashlib.md5(body).hexdigest()} and {entry['size']} bytes; the manifest lists "
        f"{entry['MD5checksum']} and {entry['size']} bytes"
    )


def _publish_for(lake, sequencer_id: str, key: str) -> str:
    """A one-object report for another bucket of the lake; its manifest key."""
    bucket = lake.config.bucket_name(sequencer_id)
    return publish_report(
        lake.clients.s3(),
        destination_bucket="small-lake-inventory",
        root=report_root("inventory", bucket, "small-lake-inventory"),
        source_bucket=bucket,
        file_format="CSV",
        columns=report_columns(FIELDS),
        rows=[row(key, 9, Bucket=bucket)],
        created_at=datetime.now(UTC),
    )


def test_a_missing_manifest_or_undecodable_checksum_rejects_only_its_own_bucket(lake):
    s3 = lake.clients.s3()
    no_manifest = publish(lake, OBJECTS, datetime.now(UTC))  # NVX-MAD-01
    s3.delete_object(Bucket="small-lake-inventory", Key=no_manifest)
    bad_checksum = _publish_for(lake, "PRM-MAD-01", "exp/sample/20250101_1200_1A_PAQ12345_abc/x")
    s3.put_object(
        Bucket="small-lake-inventory",
        Key=bad_checksum.replace("manifest.json", "manifest.checksum"),
        Body=b"\xff\xfe\x00\x81",
    )
    _publish_for(lake, "MIS-MAD-01", "250101_M01234_0001_000000000-A1B2C/RunInfo.xml")
    refresh = refresh_catalogue(lake.clients, lake.config)
    outcome = {b.source.sequencer_id: (b.status, b.error) for b in refresh.buckets}
    assert outcome == {
        "NVX-MAD-01": (
            "rejected",
            f"s3://small-lake-inventory/{no_manifest}: missing, though its manifest.checksum is "
            "there; the report is rejected",
        ),
        "MIS-MAD-01": ("catalogued", None),
        "PRM-MAD-01": (
            "rejected",
            f"s3://small-lake-inventory/{bad_checksum}: manifest.checksum holds "
            "b'\\xff\\xfe\\x00\\x81', not an MD5 in hex; the report is rejected",
        ),
    }


def test_a_verified_report_that_is_not_inventory_csv_is_rejected_by_name(lake, tmp_path):
    publish(lake, OBJECTS, datetime.now(UTC) - timedelta(days=1))
    assert only_nvx(lake).buckets[0].status == "catalogued"
    # MD5s match (the producer computes them), but one date is not AWS's timestamp format.
    bad = publish(
        lake, [*OBJECTS, row(f"{RUN}/late.txt", 5, LastModifiedDate="yesterday")], datetime.now(UTC)
    )
    (bucket,) = only_nvx(lake).buckets
    assert bucket.status == "rejected"
    assert bucket.error.startswith(
        f"s3://small-lake-inventory/{bad}: its data files are not an S3 Inventory CSV report: "
    )
    assert "'LastModifiedDate'" in bucket.error and '"yesterday"' in bucket.error
    with catalogue(lake, tmp_path) as db:
        assert db.execute("SELECT count(*) FROM objects").fetchone() == (6,)


def test_a_report_with_no_checksum_yet_is_skipped_for_the_newest_complete_one(lake, tmp_path):
    publish(lake, OBJECTS, datetime.now(UTC) - timedelta(days=1))
    arriving = publish(lake, OBJECTS[:1], datetime.now(UTC))
    lake.clients.s3().delete_object(
        Bucket="small-lake-inventory", Key=arriving.replace("manifest.json", "manifest.checksum")
    )
    (bucket,) = only_nvx(lake).buckets
    assert bucket.status == "catalogued"
    assert bucket.still_arriving == (arriving,)
    assert bucket.summary.objects == 6


def test_audits_name_unencrypted_and_unlocked_objects(lake):
    rows = [
        *OBJECTS,
        row(f"{RUN}/plain.txt", 1, EncryptionStatus="NOT-SSE"),
        row(f"{RUN}/governed.txt", 1, ObjectLockMode="GOVERNANCE"),
        row(f"{RUN}/short.txt", 1, ObjectLockRetainUntilDate=UPLOADED + timedelta(days=30)),
    ]
    publish(lake, rows, datetime.now(UTC))
    (bucket,) = only_nvx(lake).buckets
    assert bucket.unencrypted.count == 1
    assert bucket.unencrypted.sample == (f"{RUN}/plain.txt",)
    assert bucket.not_locked.count == 2
    assert bucket.not_locked.sample == (f"{RUN}/governed.txt", f"{RUN}/short.txt")


def _record_run(lake, paths: list[str]) -> None:
    run_key = f"NVX-MAD-01/{RUN}"
    lake.start_run(run_key, UPLOADED)
    files = [RunFile(run_key, p, 10, UPLOADED, f"e-{p}", UPLOADED) for p in paths]
    lake.ledger().write_batch(files, [])


def test_the_asset_fails_its_reconciliation_check_naming_a_missing_object(lake):
    _record_run(lake, ["RunInfo.xml", "Data/Intensities/BaseCalls/L001/C1.1/L001_2.cbcl"])
    publish(lake, OBJECTS, datetime.now(UTC))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [inventory_catalog], instance=instance, resources=resources_for(lake)
        )
        assert result.success
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    missing = checks["ledger_files_in_inventory"]
    assert not missing.passed
    assert missing.description == (
        f"1 objects in 1 buckets: {BUCKET}: 1 "
        f"({RUN}/Data/Intensities/BaseCalls/L001/C1.1/L001_2.cbcl)"
    )
    assert checks["every_object_encrypted"].passed
    assert checks["every_object_locked"].passed
    # The two other sequencers of the small lake have no report at all.
    assert not checks["report_fresh"].passed
    assert "small-lake-mis-mad-01" in checks["report_fresh"].metadata["stale"].data


def test_the_reconciliation_check_passes_and_sizes_show_in_human_units(lake):
    _record_run(lake, ["RunInfo.xml", "Sample Sheets/échantillon 1.csv"])
    publish(lake, OBJECTS, datetime.now(UTC))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [inventory_catalog], instance=instance, resources=resources_for(lake)
        )
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        (materialization,) = result.asset_materializations_for_node("inventory_catalog")
    assert checks["ledger_files_in_inventory"].passed
    metadata = materialization.metadata
    assert metadata["size"].value == "6.6 kB"  # 6,577 bytes
    records = [r.data for r in metadata["by site and platform"].value.records]
    assert [(r["platform"], r["objects"], r["size"]) for r in records] == [
        ("novaseq-x", 6, "6.6 kB")
    ]


def test_a_rejected_report_fails_the_run_with_an_error_naming_it(lake):
    newer = publish(lake, OBJECTS, datetime.now(UTC))
    lake.clients.s3().put_object(
        Bucket="small-lake-inventory",
        Key=newer.replace("manifest.json", "manifest.checksum"),
        Body=b"ffffffffffffffffffffffffffffffff",
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [inventory_catalog],
            instance=instance,
            resources=resources_for(lake),
            raise_on_error=False,
        )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert f"s3://small-lake-inventory/{newer}" in failure.event_specific_data.error.message


def test_the_local_producer_and_catalog_query_from_real_objects(lake):
    s3 = lake.clients.s3()
    for key, body in ((f"{RUN}/RunInfo.xml", b"<RunInfo/>"), ("loose file.txt", b"abc")):
        s3.put_object(Bucket=BUCKET, Key=key, Body=body, ChecksumAlgorithm="SHA256")
    produced = lake.cli("local", "inventory")
    assert produced.returncode == 0, produced.stderr
    assert "3 inventory reports written" in produced.stdout
    refresh = refresh_catalogue(lake.clients, lake.config)
    nvx = next(b for b in refresh.buckets if b.source.sequencer_id == "NVX-MAD-01")
    assert (nvx.summary.objects, nvx.summary.bytes, nvx.summary.runs) == (2, 13, 1)
    assert nvx.unencrypted.ok and nvx.not_locked.ok  # bucket defaults: SSE-KMS, COMPLIANCE
    answer = lake.cli(
        "catalog",
        "query",
        "SELECT sequencer_id, sum(objects) AS objects, sum(bytes) AS bytes "
        "FROM sequencers GROUP BY ALL ORDER BY 1",
        "--format",
        "json",
    )
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == [
        {"sequencer_id": "MIS-MAD-01", "objects": 0, "bytes": 0},
        {"sequencer_id": "NVX-MAD-01", "objects": 2, "bytes": 13},
        {"sequencer_id": "PRM-MAD-01", "objects": 0, "bytes": 0},
    ]
    table = lake.cli("catalog", "query", "SELECT run_key, files, bytes FROM runs ORDER BY run_key")
    assert table.stdout.splitlines() == [
        f"run_key{' ' * (len(RUN) + 4)}  files  bytes",
        f"{'-' * (len(RUN) + 11)}  -----  -----",
        f"NVX-MAD-01/{RUN}      1     10",
        "(1 row)",
    ]
    bad = lake.cli("catalog", "query", "SELECT nope FROM runs")
    assert bad.returncode == 1
    assert "query failed" in bad.stderr and "nope" in bad.stderr


def test_duckdb_reads_the_catalogue_partitions_directly(lake, tmp_path):
    publish(lake, OBJECTS, datetime.now(UTC))
    only_nvx(lake)
    mirror = mirror_catalogue(lake.clients.s3(), "small-lake-catalog", tmp_path / "m")
    pattern = str(mirror / "catalog" / "objects" / "**" / "*.parquet")
    assert duckdb.sql(
        f"SELECT site, sequencer_id, count(*) FROM read_parquet('{pattern}', "
        "hive_partitioning = true) GROUP BY ALL"
    ).fetchall() == [("madison", "NVX-MAD-01", 6)]
