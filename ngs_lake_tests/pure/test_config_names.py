"""Every resource name derives from the prefix in one place, so provisioning and the pipeline
always agree on which queue or table is the lake's."""

import pytest

from ngs_lake.config.names import EventShard, LakeNames, event_shards, statement_id
from ngs_lake_tests.pure.lake_document import lake_config

NAMES = LakeNames("test-lake")


def test_names_come_from_the_documents_prefix():
    assert LakeNames.of(lake_config()) == NAMES


def test_bucket_names_are_lower_case():
    assert NAMES.bucket("NVX-MAD-01") == "test-lake-nvx-mad-01"


def test_every_table_queue_and_topic_name():
    assert (
        NAMES.events_queue,
        NAMES.dead_letter_queue,
        NAMES.events_rule,
        NAMES.run_events_topic,
        NAMES.consumer_queue("lims"),
        NAMES.runs_table,
        NAMES.run_files_table,
        NAMES.events_table,
        NAMES.shares_table,
        NAMES.inventory_config_id,
        NAMES.lifecycle_rule_id,
    ) == (
        "test-lake-gateway-events",
        "test-lake-gateway-events-dlq",
        "test-lake-gateway-events",
        "test-lake-run-events.fifo",
        "test-lake-lims.fifo",
        "test-lake-runs",
        "test-lake-run-files",
        "test-lake-events",
        "test-lake-shares",
        "test-lake-inventory",
        "test-lake-tiering",
    )


def test_the_lake_wide_queue_carries_every_site():
    assert NAMES.lake_wide_events(("madison", "boston")) == EventShard(
        None,
        ("madison", "boston"),
        "test-lake-gateway-events",
        "test-lake-gateway-events-dlq",
        "test-lake-gateway-events",
    )
    assert NAMES.lake_wide_events().sites == ()


def test_a_site_queue_has_its_own_dlq_and_rule():
    assert NAMES.site_events("boston") == EventShard(
        "boston",
        ("boston",),
        "test-lake-boston-gateway-events",
        "test-lake-boston-gateway-events-dlq",
        "test-lake-boston-gateway-events",
    )


def test_one_queue_for_the_lake_by_default():
    [shard] = event_shards(lake_config())
    assert shard == NAMES.lake_wide_events(("madison", "boston"))
    assert shard.sensor_name == "storage_gateway_events"
    assert shard.sequencer_ids(lake_config()) == {
        "NVX-MAD-01",
        "MIS-MAD-01",
        "PRM-MAD-01",
        "REV-BOS-01",
        "AVT-BOS-01",
    }


def test_one_queue_per_site_when_asked():
    config = lake_config(lambda d: d["lake"].update(event_queues="per-site"))
    madison, boston = event_shards(config)
    assert (madison, boston) == (NAMES.site_events("madison"), NAMES.site_events("boston"))
    assert madison.sequencer_ids(config) == {"NVX-MAD-01", "MIS-MAD-01", "PRM-MAD-01"}
    assert boston.sequencer_ids(config) == {"REV-BOS-01", "AVT-BOS-01"}
    assert boston.sensor_name == "storage_gateway_events_boston"


def test_sensor_names_keep_only_letters_digits_and_underscores():
    assert NAMES.site_events("bos-2.east").sensor_name == "storage_gateway_events_bos_2_east"


@pytest.mark.parametrize(
    ("parts", "sid"),
    [
        (("ConsumerRead", "lims"), "ConsumerReadLims"),
        (("ConsumerRead", "illumina-qc"), "ConsumerReadIlluminaQc"),
        (("DenyDelete",), "DenyDelete"),
        (("gateway", "", "put_object"), "GatewayPutObject"),
        (("-x-",), "X"),
    ],
)
def test_statement_ids_are_alphanumeric_camel_case(parts, sid):
    assert statement_id(*parts) == sid
