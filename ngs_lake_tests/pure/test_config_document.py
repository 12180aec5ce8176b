"""Validating the whole document: every problem at once, each naming its entry and field, and the
cross-entry rules (duplicates, references, name lengths, each gateway's capacity)."""

import pytest

from ngs_lake.config.document import load_lake_config, parse_lake_document
from ngs_lake.config.model import LakeConfigError
from ngs_lake_tests.pure.lake_document import lake_config, problems_after


def test_a_document_that_is_not_a_mapping_is_refused():
    with pytest.raises(LakeConfigError) as caught:
        parse_lake_document(["version", 1], source="lake.yaml")
    assert str(caught.value) == (
        "lake.yaml has 1 problem(s):\nthe document must be a mapping with the keys version, lake, "
        "sites, gateways, sequencers, consumers, alerts, fixity"
    )


def test_missing_sections_and_unknown_keys_are_named():
    with pytest.raises(LakeConfigError) as caught:
        parse_lake_document({"versions": 1, "consumers": []})
    assert str(caught.value).startswith("the lake config has 7 problem(s):\nversions: ")
    assert caught.value.problems == [
        "versions: unknown field; expected one of: version, lake, sites, gateways, sequencers, "
        "consumers, alerts, fixity",
        "version: required field is missing",
        "lake: required field is missing",
        "sites: required field is missing",
        "gateways: required field is missing",
        "sequencers: required field is missing",
        "lake: must be a mapping of fields",
    ]


def test_consumers_are_optional():
    config = lake_config(lambda d: d.pop("consumers"))
    assert config.consumers == ()
    assert config.version == 1


def test_an_empty_section_is_no_entries():
    def edit(d):
        d["consumers"] = None

    assert lake_config(edit).consumers == ()


def test_another_version_is_refused():
    def edit(d):
        d["version"] = 2

    assert problems_after(edit) == ["version: unsupported version 2; this ngs_lake reads version 1"]


def test_a_section_that_is_not_a_list_is_named():
    def edit(d):
        d["sites"] = {"id": "madison"}
        del d["consumers"]

    assert problems_after(edit) == [
        "sites: must be a list of entries",
        "gateways[gw-a].site: unknown site 'madison'; known sites: ",
        "gateways[gw-b].site: unknown site 'madison'; known sites: ",
        "gateways[gw-c].site: unknown site 'boston'; known sites: ",
    ]


def test_gateways_that_are_not_a_list_are_named():
    def edit(d):
        d["gateways"] = "gw-a"

    assert problems_after(edit) == [
        "gateways: must be a list of entries",
        "sequencers[NVX-MAD-01].gateway: unknown gateway 'gw-a'; known gateways: ",
        "sequencers[MIS-MAD-01].gateway: unknown gateway 'gw-a'; known gateways: ",
        "sequencers[PRM-MAD-01].gateway: unknown gateway 'gw-b'; known gateways: ",
        "sequencers[REV-BOS-01].gateway: unknown gateway 'gw-c'; known gateways: ",
        "sequencers[AVT-BOS-01].gateway: unknown gateway 'gw-c'; known gateways: ",
    ]


def test_entries_without_an_id_are_named_by_position():
    def edit(d):
        d["sequencers"].append({"gateway": "gw-b", "platform": "miseq", "data_rate": "1 GB/h"})
        d["sequencers"].append({"id": "", "gateway": "gw-b", "platform": "miseq"})
        d["sites"].append("boston")

    assert problems_after(edit) == [
        "sites[2]: must be a mapping of fields",
        "sequencers[5].id: required field is missing",
        "sequencers[6].id: '' is not a valid id; use letters, digits and hyphens, at most 40 "
        "characters",
        "sequencers[6].data_rate: required field is missing",
    ]


def test_consumers_are_named_by_name():
    def edit(d):
        d["consumers"][0]["event_types"] = []
        d["consumers"][1]["read_prefix"] = [""]

    assert problems_after(edit) == [
        "consumers[illumina-qc].event_types: Tuple should have at least 1 item after "
        "validation, not 0",
        "consumers[lims].read_prefix: unknown field; expected one of: name, principal, "
        "event_types, platforms, sites, read_prefixes",
    ]


def test_a_misspelt_nested_field_lists_the_fields_of_its_own_entry():
    def edit(d):
        d["lake"]["object_lock"]["retention"] = 30
        d["gateways"][1]["smb"]["auth"] = "GuestAccess"

    assert problems_after(edit) == [
        "lake.object_lock.retention: unknown field; expected one of: mode, retention_days",
        "gateways[gw-b].smb.auth: unknown field; expected one of: authentication, domain",
    ]


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (
            lambda d: d["lake"].update(lifecycle=[{"days": 30, "class": "GLACIER"}]),
            "lake.lifecycle[0].class",
        ),
        (lambda d: d["lake"].update(replication={"bucket": "b"}), "lake.replication.bucket"),
    ],
)
def test_a_misspelt_field_of_a_list_or_optional_entry_is_named(edit, field):
    problems = problems_after(edit)
    assert any(p.startswith(f"{field}: unknown field; expected one of:") for p in problems)


def test_duplicate_ids_and_names_are_counted():
    def edit(d):
        d["sites"].append(dict(d["sites"][1]))
        d["gateways"].append(dict(d["gateways"][1], cache="100 TiB"))
        d["sequencers"] += [dict(d["sequencers"][2]), dict(d["sequencers"][2])]
        d["consumers"].append(dict(d["consumers"][1]))

    assert problems_after(edit) == [
        "sites[boston].id: duplicate id; 2 entries use 'boston'",
        "gateways[gw-b].id: duplicate id; 2 entries use 'gw-b'",
        "sequencers[PRM-MAD-01].id: duplicate id; 3 entries use 'PRM-MAD-01'",
        "consumers[lims].name: duplicate name; 2 entries use 'lims'",
        "gateways[gw-b].cache: 8.0 TiB holds 12.2 days of its sequencers' full-time output "
        "(720.0 GB/day), below the 21-day target (lake.cache_buffer_days); enlarge the cache or "
        "move a sequencer to another gateway",
    ]


def test_two_ids_that_differ_only_in_case_would_share_a_bucket():
    def edit(d):
        d["sequencers"].append(dict(d["sequencers"][3], id="rev-bos-01"))

    assert problems_after(edit) == [
        "sequencers[REV-BOS-01, rev-bos-01].id: ids differ only in case; bucket names are "
        "lower-case, so they would share a bucket"
    ]


def test_three_ids_that_differ_only_in_case_are_named_together():
    def edit(d):
        d["sequencers"].append(dict(d["sequencers"][3], id="rev-bos-01"))
        d["sequencers"].append(dict(d["sequencers"][3], id="Rev-Bos-01"))

    assert problems_after(edit) == [
        "sequencers[REV-BOS-01, rev-bos-01, Rev-Bos-01].id: ids differ only in case; bucket "
        "names are lower-case, so they would share a bucket"
    ]


def test_unknown_references_list_what_is_known():
    def edit(d):
        d["gateways"][2]["site"] = "verona"
        d["sequencers"][0]["gateway"] = "gw-z"
        d["consumers"][2]["sites"] = ["madison", "seattle", "verona"]

    assert problems_after(edit) == [
        "gateways[gw-c].site: unknown site 'verona'; known sites: boston, madison",
        "sequencers[NVX-MAD-01].gateway: unknown gateway 'gw-z'; known gateways: gw-a, gw-b, gw-c",
        "consumers[boston-archive].sites: unknown site 'seattle'; known sites: boston, madison",
        "consumers[boston-archive].sites: unknown site 'verona'; known sites: boston, madison",
    ]


def test_a_reference_to_an_entry_that_failed_to_parse_is_not_unknown():
    def edit(d):
        d["gateways"][0]["cache"] = "16 Tb"

    assert problems_after(edit) == [
        "gateways[gw-a].cache: cannot read '16 Tb' as a size; write a number and a unit such as "
        '"16 TiB" or "20 TB"'
    ]


def _long_names(d, prefix, sequencer_id):
    d["lake"]["prefix"] = prefix
    d["sequencers"][4]["id"] = sequencer_id


def test_a_bucket_name_of_63_characters_is_accepted():
    # 24-character prefix + "-" + 38-character id = 63, S3's limit.
    config = lake_config(lambda d: _long_names(d, "p" * 24, "A" * 38))
    assert len(config.bucket_name("A" * 38)) == 63


def test_a_bucket_name_over_63_characters_is_refused():
    bucket = "p" * 24 + "-" + "a" * 39
    assert problems_after(lambda d: _long_names(d, "p" * 24, "A" * 39)) == [
        f"sequencers[{'A' * 39}].id: bucket name {bucket!r} would exceed 63 characters"
    ]


def _per_site(d, site_id):
    d["lake"]["prefix"] = "p" * 24
    d["lake"]["event_queues"] = "per-site"
    d["sites"][0]["id"] = site_id
    d["gateways"][0]["site"] = d["gateways"][1]["site"] = site_id


def test_per_site_rule_names_of_64_characters_are_accepted():
    # "<prefix>-<site>-gateway-events": 24 + 1 + 24 + 15 = 64, EventBridge's limit.
    config = lake_config(lambda d: _per_site(d, "s" * 24))
    assert config.lake.event_queues == "per-site"


def test_per_site_rule_names_over_64_characters_are_refused():
    site = "s" * 25
    rule = f"{'p' * 24}-{site}-gateway-events"
    assert problems_after(lambda d: _per_site(d, site)) == [
        f"sites[{site}].id: with lake.event_queues per-site, its rule name {rule!r} would exceed "
        "EventBridge's 64 characters; use a shorter site id or lake prefix"
    ]


def test_long_site_ids_are_fine_with_one_lake_wide_queue():
    def edit(d):
        _per_site(d, "s" * 40)
        d["lake"]["event_queues"] = "one"

    assert lake_config(edit).sites[0].id == "s" * 40


def test_a_gateway_takes_up_to_its_maximum_of_sequencers():
    def edit(d, n):
        d["lake"]["max_sequencers_per_gateway"] = 3
        d["sequencers"] += [
            {"id": f"MIS-X-{i}", "gateway": "gw-c", "platform": "miseq", "data_rate": "0.1 GB/h"}
            for i in range(n)
        ]

    assert len(lake_config(lambda d: edit(d, 1)).sequencers_on("gw-c")) == 3
    assert problems_after(lambda d: edit(d, 2)) == [
        "gateways[gw-c]: 4 sequencers attached, more than the maximum of 3 "
        "(lake.max_sequencers_per_gateway)"
    ]


def test_a_cache_that_holds_exactly_the_target_is_enough():
    def edit(d):
        d["gateways"][1]["cache"] = "240 GB"  # PRM-MAD-01 writes 10 GB/h, 240 GB a day
        d["lake"]["cache_buffer_days"] = 1

    assert lake_config(edit).buffer_days("gw-b") == 1.0


def test_a_cache_below_the_target_gives_its_days_and_the_target():
    def edit(d):
        d["gateways"][1]["cache"] = "4 TiB"
        d["lake"]["cache_buffer_days"] = 20.5

    # 4 TiB = 4,398,046,511,104 B over 10 GB/h = 240 GB a day: 18.3 days.
    assert problems_after(edit) == [
        "gateways[gw-b].cache: 4.0 TiB holds 18.3 days of its sequencers' full-time output "
        "(240.0 GB/day), below the 20.5-day target (lake.cache_buffer_days); enlarge the cache "
        "or move a sequencer to another gateway"
    ]


def test_a_document_is_loaded_from_yaml(tmp_path):
    path = tmp_path / "lake.yaml"
    path.write_text(
        "version: 1\n"
        "lake: {prefix: y, object_lock: {retention_days: 1}, kms_key_alias: alias/y,\n"
        "       inventory: {bucket: y-inv}, access_log_bucket: y-log, catalog_bucket: y-cat,\n"
        "       gateway_role_arn: 'arn:aws:iam::123456789012:role/g',\n"
        "       break_glass_role_arn: 'arn:aws:iam::123456789012:role/b'}\n"
        "sites: [{id: münster, name: Münster, timezone: Europe/Berlin}]\n"
        "gateways: []\n"
        "sequencers: []\n",
        encoding="utf-8",
    )
    with pytest.raises(LakeConfigError) as caught:
        load_lake_config(path)
    assert str(caught.value).startswith(f"{path} has 1 problem(s):\nsites[münster].id: ")


def test_a_missing_file_is_named(tmp_path):
    path = tmp_path / "missing.yaml"
    with pytest.raises(LakeConfigError) as caught:
        load_lake_config(path)
    assert caught.value.problems == [f"cannot read {path}: No such file or directory"]
    assert str(caught.value).startswith(f"{path} has 1 problem(s):")


def test_a_file_that_is_not_yaml_is_named(tmp_path):
    path = tmp_path / "lake.yaml"
    path.write_text("version: [1\n")
    with pytest.raises(LakeConfigError) as caught:
        load_lake_config(str(path))
    [problem] = caught.value.problems
    assert problem == (
        f"{path}, line 2, column 1: not valid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence, line 1)"
    )
    assert str(caught.value).startswith(f"{path} has 1 problem(s):")


def test_a_capacity_rule_still_runs_when_the_lake_entry_fails():
    def edit(d):
        d["lake"]["object_lock"]["retention_days"] = -1  # the lake entry fails to parse
        d["lake"]["cache_buffer_days"] = 40  # but this setting, valid alone, still applies
        d["lake"]["max_sequencers_per_gateway"] = 1

    problems = problems_after(edit)
    assert (
        problems[0] == "lake.object_lock.retention_days: -1 is negative; it must be greater than 0"
    )
    assert problems[1] == (
        "gateways[gw-a]: 2 sequencers attached, more than the maximum of 1 "
        "(lake.max_sequencers_per_gateway)"
    )
    assert problems[2].startswith("gateways[gw-a].cache: 16.0 TiB holds ")
    assert problems[2].endswith(
        "below the 40-day target (lake.cache_buffer_days); enlarge the cache or move a sequencer to another gateway"
    )


def test_a_lake_setting_that_is_itself_invalid_skips_only_its_rules():
    def edit(d):
        d["lake"]["prefix"] = "Not A Prefix"  # the bucket-name rule has no prefix to use
        d["lake"]["cache_buffer_days"] = 0  # the buffer rule has no target
        d["gateways"][0]["cache"] = "1 GB"
        d["sequencers"][0]["id"] = "N" * 40

    assert [p.split(":")[0] for p in problems_after(edit)] == [
        "lake.prefix",
        "lake.cache_buffer_days",
    ]


def test_a_missing_lake_setting_takes_its_default_for_the_rules():
    def edit(d):
        d["lake"]["kms_key_alias"] = "not an alias"
        d["lake"].pop("cache_buffer_days", None)
        d["gateways"][0]["cache"] = "1 TB"

    problems = problems_after(edit)
    assert problems[1].endswith(
        "below the 21-day target (lake.cache_buffer_days); enlarge the cache or move a sequencer to another gateway"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("settling_time_seconds", 3601, "3601 is too large; it must be at most 3600"),
        ("settling_time_seconds", -5, "-5 is negative; it must be at least 0"),
        ("events_visibility_timeout_seconds", 60, "60 is too small; it must be greater than 60"),
        ("max_sequencers_per_gateway", "0", "'0' is too small; it must be greater than 0"),
    ],
)
def test_a_number_out_of_range_says_which_way(field, value, message):
    def edit(d):
        d["lake"][field] = value

    assert problems_after(edit)[0] == f"lake.{field}: {message}"


def test_an_unknown_field_under_an_optional_entry_lists_that_entrys_fields():
    def edit(d):
        d["lake"]["replication"] = {
            "destination_bucket": "replica",
            "region": "us-west-2",
            "role_arn": "arn:aws:iam::123456789012:role/r",
            "replica_kms_key_arn": "arn:aws:kms:us-west-2:123456789012:key/k",
            "rule": "x",
        }
        d["lake"]["lifecycle"] = [{"days": 30, "storage_class": "GLACIER", "class": "x"}]

    assert problems_after(edit) == [
        "lake.lifecycle[0].class: unknown field; expected one of: days, storage_class",
        "lake.replication.rule: unknown field; expected one of: destination_bucket, region, "
        "role_arn, replica_kms_key_arn",
    ]


def test_a_list_whose_every_item_fails_is_not_also_called_empty():
    def edit(d):
        d["consumers"][0]["read_prefixes"] = ["*"]

    (problem,) = problems_after(edit)
    assert problem.startswith("consumers[illumina-qc].read_prefixes[0]: '*' holds '*'")


def test_an_empty_list_is_still_called_empty():
    def edit(d):
        d["consumers"][0]["read_prefixes"] = []

    (problem,) = problems_after(edit)
    assert problem.startswith("consumers[illumina-qc].read_prefixes: ")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"version: 1\n\xff\xfe\n", "{path} is not UTF-8 text: byte 0xff at offset 11"),
        (
            b"version: 1\x00\n",
            "{path}, offset 10: not valid YAML: special characters are not allowed",
        ),
        (b"[" * 5000 + b"]" * 5000, "{path} is nested too deeply to read"),
        (
            b"a: b: c\n",
            "{path}, line 1, column 5: not valid YAML: mapping values are not allowed here",
        ),
    ],
    ids=["not-utf-8", "control-character", "too-deep", "marked"],
)
def test_a_file_that_cannot_be_read_as_yaml_names_the_file(tmp_path, content, problem):
    path = tmp_path / "lake.yaml"
    path.write_bytes(content)
    with pytest.raises(LakeConfigError) as caught:
        load_lake_config(path)
    assert caught.value.problems == [problem.format(path=path)]
