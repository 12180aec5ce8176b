"""The config document: the shipped lake validates, and each mistake gets its literal message."""

import copy
import subprocess
import sys
from collections.abc import Callable

import pytest
import yaml

from ngs_lake.config.document import load_lake_config, parse_lake_document
from ngs_lake.config.model import LakeConfigError
from ngs_lake.config.units import UnitError, parse_rate, parse_size
from ngs_lake_tests.conftest import SHIPPED_CONFIG, SMALL_CONFIG

SMALL = yaml.safe_load(SMALL_CONFIG.read_text())


def problems_after(edit: Callable[[dict], None]) -> list[str]:
    document = copy.deepcopy(SMALL)
    edit(document)
    with pytest.raises(LakeConfigError) as caught:
        parse_lake_document(document)
    return caught.value.problems


def test_shipped_document_mirrors_the_reference_deployment():
    config = load_lake_config(SHIPPED_CONFIG)
    assert len(config.sites) == 4
    assert len({s.timezone for s in config.sites}) == 3
    assert len(config.gateways) == 9
    assert len(config.sequencers) == 25
    platforms = {s.platform for s in config.sequencers}
    assert {"novaseq-x", "novaseq-6000", "nextseq-2000", "miseq"} <= platforms
    assert {"promethion", "revio", "aviti"} <= platforms


def test_shipped_buffer_days_are_the_hand_computed_figures():
    config = load_lake_config(SHIPPED_CONFIG)
    # 16 TiB = 17,592,186,044,416 B; one NovaSeq X at 20 GB/h writes 480 GB a day.
    assert config.buffer_days("gw-bos-01") == pytest.approx(36.650, abs=0.001)
    # 12 TiB over a PromethION and a GridION: 10 + 2 GB/h = 288 GB a day.
    assert config.buffer_days("gw-mad-03") == pytest.approx(45.813, abs=0.001)
    # 12 TiB over NextSeq 550 + MiSeq + PromethION + Revio: 18.5 GB/h = 444 GB a day.
    assert config.buffer_days("gw-sea-02") == pytest.approx(29.717, abs=0.001)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16 TiB", 17_592_186_044_416),
        ("20 TB", 20_000_000_000_000),
        ("1.5 GiB", 1_610_612_736),
        ("512 MB", 512_000_000),
        ("7 B", 7),
    ],
)
def test_sizes_mean_what_their_units_say(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "per_hour"),
    [
        ("25 GB/h", 25e9),
        ("600 GB/day", 25e9),
        ("1 TiB/day", 2**40 / 24),
        ("2 MB/s", 7.2e9),
    ],
)
def test_rates_are_bytes_per_hour(text, per_hour):
    assert parse_rate(text) == pytest.approx(per_hour)


@pytest.mark.parametrize("text", ["16 Tb", "16 TiB per h", "sixteen TiB", "", "25 GB/week"])
def test_unreadable_figures_are_refused(text):
    with pytest.raises(UnitError):
        parse_size(text) if "/" not in text else parse_rate(text)


def test_duplicate_ids():
    def edit(d):
        d["sequencers"].append(dict(d["sequencers"][0]))
        d["sites"].append(dict(d["sites"][0]))

    assert problems_after(edit) == [
        "sites[madison].id: duplicate id; 2 entries use 'madison'",
        "sequencers[NVX-MAD-01].id: duplicate id; 2 entries use 'NVX-MAD-01'",
        "gateways[gw-a].cache: 16.0 TiB holds 18.1 days of its sequencers' full-time output "
        "(972.0 GB/day), below the 21-day target (lake.cache_buffer_days); enlarge the cache or "
        "move a sequencer to another gateway",
    ]


def test_ids_that_differ_only_in_case_would_share_a_bucket():
    def edit(d):
        d["sequencers"].append({**d["sequencers"][1], "id": "mis-mad-01"})

    assert problems_after(edit) == [
        "sequencers[MIS-MAD-01, mis-mad-01].id: ids differ only in case; bucket names are "
        "lower-case, so they would share a bucket"
    ]


def test_unknown_site_and_gateway_references():
    def edit(d):
        d["gateways"][1]["site"] = "verona"
        d["sequencers"][0]["gateway"] = "gw-z"
        d["consumers"][1]["sites"] = ["boston"]

    assert problems_after(edit) == [
        "gateways[gw-b].site: unknown site 'verona'; known sites: madison",
        "sequencers[NVX-MAD-01].gateway: unknown gateway 'gw-z'; known gateways: gw-a, gw-b",
        "consumers[lims].sites: unknown site 'boston'; known sites: madison",
    ]


def test_bad_units():
    def edit(d):
        d["gateways"][0]["cache"] = "16 Tb"
        d["sequencers"][2]["data_rate"] = "10 GB/week"

    assert problems_after(edit) == [
        "gateways[gw-a].cache: cannot read '16 Tb' as a size; write a number and a unit such as "
        '"16 TiB" or "20 TB"',
        "sequencers[PRM-MAD-01].data_rate: cannot read '10 GB/week' as a data rate; write a size "
        'per hour or day such as "25 GB/h" or "1.5 TiB/day"',
        # gw-a failed to parse, so its sequencers now reference a gateway that exists but is broken:
        # no spurious "unknown gateway" follows.
    ]


def test_unknown_timezone_and_platform():
    def edit(d):
        d["sites"][0]["timezone"] = "America/Madison"
        d["sequencers"][1]["platform"] = "miseq-i100"

    assert problems_after(edit) == [
        "sites[madison].timezone: unknown IANA time zone 'America/Madison'; near names: "
        "America/Maceio, America/Dawson, America/Marigot",
        "sequencers[MIS-MAD-01].platform: unknown platform 'miseq-i100'; expected one of: "
        "novaseq-x, novaseq-6000, nextseq-2000, nextseq-1000, nextseq-550, miniseq, miseq, "
        "iseq-100, promethion, gridion, minion, revio, sequel-2, aviti",
    ]


def test_unknown_keys_are_typos():
    def edit(d):
        d["sequencer"] = []
        d["lake"]["object_lock"]["retention"] = 30
        d["sequencers"][0]["datarate"] = "1 GB/h"

    assert problems_after(edit) == [
        "sequencer: unknown field; expected one of: version, lake, sites, gateways, sequencers, "
        "consumers, alerts, fixity",
        "lake.object_lock.retention: unknown field; expected one of: mode, retention_days",
        "sequencers[NVX-MAD-01].datarate: unknown field; expected one of: id, gateway, platform, "
        "data_rate, stall_window",
    ]


def test_more_sequencers_than_a_gateway_takes():
    def edit(d):
        d["sequencers"] += [
            {"id": f"MIS-X-{i:02}", "gateway": "gw-b", "platform": "miseq", "data_rate": "0.1 GB/h"}
            for i in range(10)
        ]

    assert problems_after(edit) == [
        "gateways[gw-b]: 11 sequencers attached, more than the maximum of 10 "
        "(lake.max_sequencers_per_gateway)"
    ]


def test_cache_buffer_below_target_gives_days_and_target():
    def edit(d):
        d["gateways"][1]["cache"] = "4 TiB"

    # 4 TiB = 4,398,046,511,104 B over 10 GB/h = 240 GB a day: 18.3 days.
    assert problems_after(edit) == [
        "gateways[gw-b].cache: 4.0 TiB holds 18.3 days of its sequencers' full-time output "
        "(240.0 GB/day), below the 21-day target (lake.cache_buffer_days); enlarge the cache or "
        "move a sequencer to another gateway"
    ]


def test_every_problem_is_reported_at_once():
    def edit(d):
        d["version"] = 2
        d["sites"][0]["timezone"] = "Mars/Olympus"
        d["gateways"][0]["ip"] = "10.30.1"
        d["sequencers"][2]["platform"] = "sanger"
        del d["lake"]["kms_key_alias"]

    assert problems_after(edit) == [
        "version: unsupported version 2; this ngs_lake reads version 1",
        "lake.kms_key_alias: required field is missing",
        "sites[madison].timezone: unknown IANA time zone 'Mars/Olympus', such as 'Europe/Berlin'",
        "gateways[gw-a].ip: '10.30.1' is not an IPv4 address",
        "sequencers[PRM-MAD-01].platform: unknown platform 'sanger'; expected one of: novaseq-x, "
        "novaseq-6000, nextseq-2000, nextseq-1000, nextseq-550, miniseq, miseq, iseq-100, "
        "promethion, gridion, minion, revio, sequel-2, aviti",
    ]


def test_cli_validate_prints_summary_and_exits_zero():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ngs_lake.cli",
            "config",
            "validate",
            "--config",
            str(SHIPPED_CONFIG),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "valid. 4 sites, 9 gateways, 25 sequencers, 3 consumers." in result.stdout
    assert "gw-sea-02    seattle       4 / 10   12.0 TiB   444.0 GB        29.7" in result.stdout


def test_cli_validate_prints_problems_and_exits_one(tmp_path):
    document = copy.deepcopy(SMALL)
    document["sequencers"][0]["platform"] = "hiseq"
    path = tmp_path / "lake.yaml"
    path.write_text(yaml.safe_dump(document))
    result = subprocess.run(
        [sys.executable, "-m", "ngs_lake.cli", "config", "validate", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert f"{path} has 1 problem(s):" in result.stderr
    assert "sequencers[NVX-MAD-01].platform: unknown platform 'hiseq'" in result.stderr


def test_what_the_code_cannot_honour_is_refused_with_the_reason():
    def edit(d):
        d["lake"]["inventory"]["format"] = "ORC"
        d["lake"]["object_lock"]["mode"] = "GOVERNANCE"
        d["consumers"][0]["read_prefixes"] = ["*", "runs/?/"]

    assert problems_after(edit) == [
        "lake.object_lock.mode: GOVERNANCE is refused: the lake's audit expects every object "
        "under COMPLIANCE, and GOVERNANCE lets a privileged user shorten or lift a lock; use "
        "COMPLIANCE",
        "lake.inventory.format: ORC is refused: the inventory catalogue reads CSV and Parquet "
        "reports only; use CSV or Parquet",
        "consumers[illumina-qc].read_prefixes[0]: '*' holds '*', which IAM reads as a "
        "wildcard or variable and which would widen the consumer's grant; write a literal key "
        "prefix such as 'reports/' ('' for the whole bucket)",
        "consumers[illumina-qc].read_prefixes[1]: 'runs/?/' holds '?', which IAM reads "
        "as a wildcard or variable and which would widen the consumer's grant; write a literal "
        "key prefix such as 'reports/' ('' for the whole bucket)",
    ]


def test_a_figure_out_of_range_says_what_is_wrong():
    def edit(d):
        d["sequencers"][0]["data_rate"] = "-12 GB/h"
        d["lake"]["settling_time_seconds"] = 5000

    assert problems_after(edit) == [
        "lake.settling_time_seconds: 5000 is too large; it must be at most 3600",
        "sequencers[NVX-MAD-01].data_rate: '-12 GB/h' is negative; a data rate is 0 or more, "
        'such as "25 GB/h"',
    ]


def test_cli_validate_reports_the_problems_of_every_layer_at_once(tmp_path):
    document = copy.deepcopy(SMALL)
    document["lake"]["object_lock"]["retention_days"] = -30  # the lake entry fails...
    document["gateways"][1]["cache"] = "4 TiB"  # ...and a capacity rule that reads it still runs
    path = tmp_path / "lake.yaml"
    path.write_text(yaml.safe_dump(document))
    result = subprocess.run(
        [sys.executable, "-m", "ngs_lake.cli", "config", "validate", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path} has 2 problem(s):",
        "lake.object_lock.retention_days: -30 is negative; it must be greater than 0",
        "gateways[gw-b].cache: 4.0 TiB holds 18.3 days of its sequencers' full-time output "
        "(240.0 GB/day), below the 21-day target (lake.cache_buffer_days); enlarge the cache or "
        "move a sequencer to another gateway",
    ]


def test_a_yaml_error_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "lake.yaml"
    path.write_text("version: 1\nlake:\n  prefix: small-lake\n   region: us-east-1\n")
    with pytest.raises(LakeConfigError) as caught:
        load_lake_config(path)
    assert caught.value.problems == [
        f"{path}, line 4, column 10: not valid YAML: mapping values are not allowed here"
    ]
