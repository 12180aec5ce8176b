"""The config document's entries: each field rule with its literal message, and the lookups and
capacity rule the rest of the lake reads the document through."""

import math

import pytest

from ngs_lake.config.model import (
    Consumer,
    Gateway,
    LakeConfigError,
    Sequencer,
    buffer_days,
)
from ngs_lake.config.values import EVENT_TYPES
from ngs_lake_tests.pure.lake_document import lake_config, problems_after

ALL_EVENT_TYPES = (
    "run.started, run.copy_complete, run.completed, run.incomplete, run.stalled, run.resumed, "
    "run.aborted, run.amended, run.needs_attention, run.samplesheet_changed"
)
ALL_PLATFORMS = (
    "novaseq-x, novaseq-6000, nextseq-2000, nextseq-1000, nextseq-550, miniseq, miseq, iseq-100, "
    "promethion, gridion, minion, revio, sequel-2, aviti"
)


def test_the_literal_document_is_valid():
    config = lake_config()
    assert [s.id for s in config.sites] == ["madison", "boston"]
    assert [g.id for g in config.gateways] == ["gw-a", "gw-b", "gw-c"]
    assert config.gateway("gw-a").cache == 17_592_186_044_416
    assert config.sequencer("NVX-MAD-01").data_rate == 20e9
    assert config.sequencer("MIS-MAD-01").stall_window == 1800.0
    assert config.consumers[1].sites == ()


def test_event_types_are_the_published_schemas():
    assert tuple(ALL_EVENT_TYPES.split(", ")) == EVENT_TYPES


def test_an_unknown_event_type_is_refused():
    def edit(d):
        d["consumers"][1]["event_types"] = ["run.started", "run.finished"]

    assert problems_after(edit) == [
        f"consumers[lims].event_types[1]: unknown event type 'run.finished'; expected one of: "
        f"{ALL_EVENT_TYPES}"
    ]


def test_an_unknown_platform_is_refused_with_the_closed_list():
    def edit(d):
        d["sequencers"][0]["platform"] = "hiseq-2500"
        d["consumers"][0]["platforms"] = ["novaseq-x", "sanger"]

    assert problems_after(edit) == [
        f"sequencers[NVX-MAD-01].platform: unknown platform 'hiseq-2500'; expected one of: "
        f"{ALL_PLATFORMS}",
        f"consumers[illumina-qc].platforms[1]: unknown platform 'sanger'; expected one of: "
        f"{ALL_PLATFORMS}",
    ]


@pytest.mark.parametrize("bad_id", ["-gw", "gw_a", "g" * 41, "gw a"])
def test_ids_are_letters_digits_and_hyphens_up_to_40(bad_id):
    def edit(d):
        d["gateways"][2]["id"] = bad_id
        d["sequencers"] = d["sequencers"][:3]

    assert problems_after(edit) == [
        f"gateways[{bad_id}].id: {bad_id!r} is not a valid id; use letters, digits and hyphens, "
        "at most 40 characters"
    ]


def test_an_id_of_40_characters_is_accepted():
    assert Gateway.model_validate(
        {
            "id": "g" * 40,
            "site": "madison",
            "ip": "10.0.0.1",
            "cache": "1 TiB",
            "smb": {"authentication": "GuestAccess"},
        }
    ).id == ("g" * 40)


@pytest.mark.parametrize("prefix", ["Test-lake", "-lake", "l" * 25, "test_lake"])
def test_the_prefix_is_lower_case_and_at_most_24_characters(prefix):
    def edit(d):
        d["lake"]["prefix"] = prefix

    assert problems_after(edit) == [
        f"lake.prefix: {prefix!r} must be lower-case letters, digits and hyphens, at most 24 "
        "characters (it starts every bucket, table and queue name)"
    ]


def test_an_unknown_time_zone_is_refused():
    def edit(d):
        d["sites"][1]["timezone"] = "America/Boston"

    # A near miss gets the nearest names of the tz database (difflib), not an unrelated example.
    assert problems_after(edit) == [
        "sites[boston].timezone: unknown IANA time zone 'America/Boston'; near names: "
        "America/Moncton, America/Creston, America/Boise"
    ]


@pytest.mark.parametrize("zone", ["", "../etc/passwd"])
def test_a_time_zone_that_is_no_name_is_refused(zone):
    def edit(d):
        d["sites"][1]["timezone"] = zone

    assert problems_after(edit) == [
        f"sites[boston].timezone: unknown IANA time zone {zone!r}, such as 'Europe/Berlin'"
    ]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::12345:role/lims",
        "role/lims",
        "arn:aws:iam::123456789012:",
    ],
)
def test_principals_are_arns_with_a_12_digit_account(arn):
    def edit(d):
        d["consumers"][1]["principal"] = arn

    assert problems_after(edit) == [
        f"consumers[lims].principal: {arn!r} is not an ARN such as "
        "'arn:aws:iam::123456789012:role/name'"
    ]


def test_govcloud_and_china_arns_are_accepted():
    for arn in ("arn:aws-us-gov:iam::123456789012:role/x", "arn:aws-cn:iam::123456789012:role/x"):
        assert (
            Consumer.model_validate(
                {
                    "name": "c",
                    "principal": arn,
                    "event_types": ["run.started"],
                    "read_prefixes": [""],
                }
            ).principal
            == arn
        )


@pytest.mark.parametrize(
    "bucket", ["ab", "Test-lake-logs", "test..lake", "-test-lake", "test-lake-", "a" * 64]
)
def test_bucket_names_follow_s3s_rules(bucket):
    def edit(d):
        d["lake"]["access_log_bucket"] = bucket

    assert problems_after(edit) == [
        f"lake.access_log_bucket: {bucket!r} is not a valid S3 bucket name"
    ]


@pytest.mark.parametrize("bucket", ["abc", "a" * 63, "test.lake.logs"])
def test_bucket_names_of_3_to_63_characters_are_accepted(bucket):
    def edit(d):
        d["lake"]["access_log_bucket"] = bucket

    assert lake_config(edit).lake.access_log_bucket == bucket


@pytest.mark.parametrize("ip", ["10.30.1", "10.30.1.256", "fe80::1", "gateway"])
def test_gateway_addresses_are_ipv4(ip):
    def edit(d):
        d["gateways"][0]["ip"] = ip

    assert problems_after(edit) == [f"gateways[gw-a].ip: {ip!r} is not an IPv4 address"]


def test_lookups_find_the_entry_asked_for():
    config = lake_config()
    assert config.site("boston").timezone == "America/New_York"
    assert config.gateway("gw-b").cache == 8_796_093_022_208
    assert config.sequencer("PRM-MAD-01").platform == "promethion"
    assert [s.id for s in config.sequencers_on("gw-a")] == ["NVX-MAD-01", "MIS-MAD-01"]
    assert [s.id for s in config.sequencers_on("gw-c")] == ["REV-BOS-01", "AVT-BOS-01"]
    assert config.site_of(config.sequencer("AVT-BOS-01")).id == "boston"
    assert config.site_of(config.sequencer("PRM-MAD-01")).id == "madison"


def test_bucket_names_are_the_prefix_and_the_lower_case_sequencer_id():
    assert lake_config().bucket_name("NVX-MAD-01") == "test-lake-nvx-mad-01"


@pytest.mark.parametrize(
    ("sequencer", "seconds"),
    [
        ("NVX-MAD-01", 7_200.0),  # Illumina: two hours
        ("MIS-MAD-01", 1_800.0),  # its own stall_window: 30m
        ("PRM-MAD-01", 3_600.0),  # Nanopore: one hour
        ("REV-BOS-01", 129_600.0),  # Revio: 36 hours
        ("AVT-BOS-01", 7_200.0),  # Element: two hours
    ],
)
def test_stall_window_is_the_sequencers_own_or_its_familys(sequencer, seconds):
    assert lake_config().stall_window_seconds(sequencer) == seconds


def test_buffer_days_is_the_cache_over_a_days_full_time_output():
    config = lake_config()
    # 16 TiB = 17,592,186,044,416 B over 20 + 0.5 GB/h = 492 GB a day.
    assert config.buffer_days("gw-a") == pytest.approx(35.7565, abs=1e-4)
    # 12 TiB = 13,194,139,533,312 B over 6 + 5 GB/h = 264 GB a day.
    assert config.buffer_days("gw-c") == pytest.approx(49.9778, abs=1e-4)


def test_buffer_days_of_an_idle_cache_is_infinite():
    assert buffer_days(2**40, []) == math.inf
    assert buffer_days(24e9, [1e9]) == 1.0


@pytest.mark.parametrize(
    ("consumer", "sequencers"),
    [
        (0, ["NVX-MAD-01", "MIS-MAD-01"]),  # platforms only
        (1, ["NVX-MAD-01", "MIS-MAD-01", "PRM-MAD-01", "REV-BOS-01", "AVT-BOS-01"]),
        (2, ["REV-BOS-01", "AVT-BOS-01"]),  # site only
        (3, ["REV-BOS-01"]),  # platform and site
    ],
)
def test_consumer_filters_admit_their_platforms_and_sites(consumer, sequencers):
    config = lake_config()
    admitted = config.consumer_sequencers(config.consumers[consumer])
    assert [s.id for s in admitted] == sequencers


def test_a_stall_window_is_a_duration():
    sequencer = Sequencer.model_validate(
        {
            "id": "S",
            "gateway": "g",
            "platform": "miseq",
            "data_rate": "1 GB/h",
            "stall_window": "2h",
        }
    )
    assert sequencer.stall_window == 7_200.0
    assert sequencer.data_rate == 1e9


def test_the_error_lists_every_problem_under_its_source():
    error = LakeConfigError(["a: first", "b: second"])
    assert str(error) == "the lake config has 2 problem(s):\na: first\nb: second"
    assert error.problems == ["a: first", "b: second"]
    named = LakeConfigError(["x"], "config/lake.yaml")
    assert str(named) == "config/lake.yaml has 1 problem(s):\nx"


@pytest.mark.parametrize(
    ("zone", "near"),
    [
        ("america/chicago", "America/Chicago"),
        ("Chicago", "America/Chicago"),
        ("US/Chicgo", "US/Michigan, US/Pacific"),
    ],
)
def test_a_near_miss_time_zone_gets_the_nearest_names(zone, near):
    def edit(d):
        d["sites"][0]["timezone"] = zone

    assert problems_after(edit) == [
        f"sites[madison].timezone: unknown IANA time zone {zone!r}; near names: {near}"
    ]


@pytest.mark.parametrize("zone", ["America", "Etc", "a" * 300])
def test_a_time_zone_folder_or_overlong_name_is_refused_not_raised(zone):
    def edit(d):
        d["sites"][0]["timezone"] = zone

    (problem,) = problems_after(edit)
    assert problem.startswith(f"sites[madison].timezone: unknown IANA time zone {zone!r}")


def test_governance_and_orc_are_refused_with_the_reason():
    def edit(d):
        d["lake"]["object_lock"]["mode"] = "GOVERNANCE"
        d["lake"]["inventory"]["format"] = "ORC"

    assert problems_after(edit) == [
        "lake.object_lock.mode: GOVERNANCE is refused: the lake's audit expects every object "
        "under COMPLIANCE, and GOVERNANCE lets a privileged user shorten or lift a lock; use "
        "COMPLIANCE",
        "lake.inventory.format: ORC is refused: the inventory catalogue reads CSV and Parquet "
        "reports only; use CSV or Parquet",
    ]


def test_compliance_csv_and_parquet_are_accepted():
    def edit(d):
        d["lake"]["inventory"]["format"] = "Parquet"

    config = lake_config(edit)
    assert (config.lake.object_lock.mode, config.lake.inventory.format) == ("COMPLIANCE", "Parquet")


@pytest.mark.parametrize(
    ("prefix", "held"),
    [("*", "'*'"), ("runs/?", "'?'"), ("home/${aws:username}/", "'${'"), ("a*/b?", "'*' and '?'")],
)
def test_a_read_prefix_with_an_iam_wildcard_is_refused(prefix, held):
    def edit(d):
        d["consumers"][0]["read_prefixes"] = ["reports/", prefix]

    (problem,) = problems_after(edit)
    assert problem == (
        f"consumers[illumina-qc].read_prefixes[1]: {prefix!r} holds {held}, which IAM reads as a "
        "wildcard or variable and which would widen the consumer's grant; write a literal key "
        "prefix such as 'reports/' ('' for the whole bucket)"
    )


def test_literal_read_prefixes_are_kept():
    def edit(d):
        d["consumers"][0]["read_prefixes"] = ["", "reports/", "a-b_c.d/"]

    assert lake_config(edit).consumers[0].read_prefixes == ("", "reports/", "a-b_c.d/")
