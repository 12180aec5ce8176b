"""A catalogue that keeps up: the sensor that catalogues each new complete inventory report, and
the local stack's delivery of reports a set delay after a run completes. Against a moto server,
without a daemon; reports are read back through boto3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.document import load_lake_config
from ngs_lake.config.names import LakeNames
from ngs_lake.definitions import defs
from ngs_lake.inventory.report import report_root
from ngs_lake.local.inventory_writer import InventoryDelivery, publish_report, report_columns
from ngs_lake_tests.conftest import SMALL_CONFIG, dagster_resources

K = dg.AssetKey


def _clients(moto) -> AwsClients:
    return AwsClients(
        AwsTarget("us-east-1", moto.endpoint, name="local"),
        {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
    )


def _write_report(s3, config, bucket: str, moment: datetime, checksum: bool = True) -> str:
    root = report_root(
        config.lake.inventory.prefix, bucket, LakeNames.of(config).inventory_config_id
    )
    key = publish_report(
        s3,
        destination_bucket=config.lake.inventory.bucket,
        root=root,
        source_bucket=bucket,
        file_format="CSV",
        columns=report_columns(config.lake.inventory.fields),
        rows=[],
        created_at=moment,
    )
    if not checksum:  # still arriving: its checksum, written last, not yet there
        s3.delete_object(Bucket=config.lake.inventory.bucket, Key=key.replace(".json", ".checksum"))
    return key


def test_the_sensor_catalogues_each_new_complete_report_once_one_run_at_a_time(moto):
    config = load_lake_config(SMALL_CONFIG)
    s3 = _clients(moto).s3()
    s3.create_bucket(Bucket=config.lake.inventory.bucket)
    loaded = defs()
    sensor = loaded.resolve_sensor_def("inventory_reports_arrived")
    resources = dagster_resources(moto.endpoint, "http://127.0.0.1:9", SMALL_CONFIG)
    with dg.instance_for_test() as instance:

        def tick(cursor: str | None):
            context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
            result = sensor(context)
            return result, getattr(result, "cursor", None) or cursor

        result, cursor = tick(None)
        assert isinstance(result, dg.SkipReason)
        moment = datetime(2026, 11, 30, 12, 1, 5, tzinfo=UTC)
        _write_report(s3, config, "small-lake-prm-mad-01", moment, checksum=False)
        result, cursor = tick(cursor)
        assert isinstance(result, dg.SkipReason)  # no manifest.checksum yet: not a report
        _write_report(s3, config, "small-lake-prm-mad-01", moment)
        result, cursor = tick(cursor)
        (request,) = result.run_requests
        assert request.job_name == "catalogue_refresh_job"
        assert [(e.asset_key, e.partition) for e in result.asset_events] == [
            (K("inventory_report"), "PRM-MAD-01")
        ]
        assert isinstance(tick(cursor)[0], dg.SkipReason)  # seen
        # While a catalogue run is running, a new report waits (out of the cursor) for the next.
        job = loaded.resolve_job_def("catalogue_refresh_job")
        queued = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
        _write_report(s3, config, "small-lake-nvx-mad-01", moment)
        result, cursor = tick(cursor)
        assert isinstance(result, dg.SkipReason)
        assert queued.run_id in result.skip_message
        instance.report_run_failed(queued)
        result, cursor = tick(cursor)
        (after,) = result.run_requests
        assert [(e.asset_key, e.partition) for e in result.asset_events] == [
            (K("inventory_report"), "NVX-MAD-01")
        ]
        # A new report in the same minute (same folder) is still new.
        _write_report(s3, config, "small-lake-prm-mad-01", moment.replace(second=40))
        result, cursor = tick(cursor)
        (again,) = result.run_requests
        assert len({request.run_key, after.run_key, again.run_key}) == 3


class _Delivery(InventoryDelivery):
    """The stack's delivery with the ledger's newest completion set by the test."""

    completion: datetime | None = None

    def newest_completion(self) -> datetime | None:
        return self.completion


def test_reports_are_delivered_at_start_a_delay_after_a_completion_and_daily(moto):
    config = load_lake_config(SMALL_CONFIG)
    clients = _clients(moto)
    s3 = clients.s3()
    buckets = [config.bucket_name(s.id) for s in config.sequencers]
    for bucket in (config.lake.inventory.bucket, *buckets):
        s3.create_bucket(Bucket=bucket)
    delivery = _Delivery(clients, config, delay_seconds=60)
    t0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def at(seconds: float) -> int:
        return len(delivery.tick(t0 + timedelta(seconds=seconds)))

    assert at(0) == 3  # at start-up, one per sequencer bucket
    assert at(10) == 0
    delivery.completion = t0 + timedelta(seconds=20)
    assert at(70) == 0  # 50 s after the completion: not yet
    assert at(80) == 3  # 60 s after it
    assert at(140) == 0  # that completion is covered
    assert at(80 + 86399) == 0
    assert at(80 + 86400) == 3  # a day after the last report, as S3 delivers daily
    root = report_root(
        config.lake.inventory.prefix,
        "small-lake-nvx-mad-01",
        LakeNames.of(config).inventory_config_id,
    )
    listed = s3.list_objects_v2(Bucket=config.lake.inventory.bucket, Prefix=root)
    checksums = sorted(
        o["Key"][len(root) :] for o in listed["Contents"] if o["Key"].endswith(".checksum")
    )
    assert checksums == [
        "2026-11-30T12-00Z/manifest.checksum",
        "2026-11-30T12-01Z/manifest.checksum",
        "2026-12-01T12-01Z/manifest.checksum",
    ]
