"""The capacity report: the sizing rule's figures for the shipped config document, written here as
literal numbers worked out by hand (cache / (sum of GB/h x 24)), observed rates from the ledger,
and the `capacity_report` asset against a moto server and a running gateway."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import dagster as dg

from ngs_lake.capacity.figures import gateway_capacity, recommendations
from ngs_lake.capacity.observed import ObservedRate, observed_rate
from ngs_lake.config.document import load_lake_config
from ngs_lake.orchestration.capacity.assets import capacity_report
from ngs_lake.runs.model import Run, RunFile, RunState
from ngs_lake_tests.conftest import SHIPPED_CONFIG, SMALL_CONFIG, edited_config
from ngs_lake_tests.lake_fixtures import Lake
from ngs_lake_tests.test_ingest import resources_for

# gateway: (sequencers, buffer days to 2 places); e.g. gw-bos-03 holds 12 TiB against
# Revio 6 + Revio 6 + AVITI 5 = 17 GB/h = 408 GB/day: 13,194,139,533,312 / 408e9 = 32.34 days.
SHIPPED_BUFFER_DAYS = {
    "gw-bos-01": (1, 36.65),
    "gw-bos-02": (2, 30.54),
    "gw-bos-03": (3, 32.34),
    "gw-ral-01": (4, 37.27),
    "gw-mad-01": (2, 36.65),
    "gw-mad-02": (5, 34.91),
    "gw-mad-03": (2, 45.81),
    "gw-sea-01": (2, 34.36),
    "gw-sea-02": (4, 29.72),
}


def test_buffer_days_and_sequencer_counts_for_the_shipped_config():
    figures = gateway_capacity(load_lake_config(SHIPPED_CONFIG))
    assert {g.gateway_id: (g.sequencers, round(g.buffer_days, 2)) for g in figures} == (
        SHIPPED_BUFFER_DAYS
    )
    assert {g.max_sequencers for g in figures} == {10}
    bos01 = next(g for g in figures if g.gateway_id == "gw-bos-01")
    assert bos01.cache_bytes == 17_592_186_044_416  # 16 TiB
    assert bos01.write_bytes_per_day == 480_000_000_000  # NovaSeq X, 20 GB/h
    assert all(g.meets_target for g in figures)


def test_headroom_per_platform_for_the_shipped_config():
    figures = {g.gateway_id: g for g in gateway_capacity(load_lake_config(SHIPPED_CONFIG))}
    # gw-bos-01: 16 TiB / 21 days / 24 h = 34.91 GB/h, 20 in use: 14.91 GB/h and 9 slots spare.
    assert figures["gw-bos-01"].headroom == {
        "novaseq-x": 0,
        "novaseq-6000": 1,
        "nextseq-2000": 3,
        "nextseq-550": 7,
        "miseq": 9,
        "promethion": 1,
        "gridion": 7,
        "revio": 2,
        "aviti": 2,
        # At 2 GB/h (NextSeq 1000, Sequel II/IIe): 14.91 / 2 = 7; the small ones fill the slots.
        "nextseq-1000": 7,
        "sequel-2": 7,
        "miniseq": 9,
        "iseq-100": 9,
        "minion": 9,
    }
    # gw-sea-02: 12 TiB / 21 / 24 = 26.18 GB/h, 18.5 in use: 7.68 GB/h and 6 slots spare.
    assert figures["gw-sea-02"].headroom == {
        "novaseq-x": 0,
        "novaseq-6000": 0,
        "nextseq-2000": 1,
        "nextseq-550": 3,
        "miseq": 6,
        "promethion": 0,
        "gridion": 3,
        "revio": 1,
        "aviti": 1,
        "nextseq-1000": 3,  # 7.68 / 2
        "sequel-2": 3,
        "miniseq": 6,  # the 6 spare slots
        "iseq-100": 6,
        "minion": 6,
    }
    # gw-mad-01: 32 TiB / 21 / 24 = 69.81 GB/h, 40 in use: one more NovaSeq X fits.
    assert figures["gw-mad-01"].headroom["novaseq-x"] == 1


def test_recommendations_for_the_shipped_config():
    config = load_lake_config(SHIPPED_CONFIG)
    assert recommendations(config, gateway_capacity(config)) == [
        "site boston needs another appliance before adding a NovaSeq X",
        "site raleigh can take one more of every platform",
        "site madison can take one more of every platform",
        "site seattle can take one more of every platform",
    ]


def test_a_gateway_under_target_at_observed_rates_or_full_is_named(tmp_path):
    def edit(document: dict) -> None:
        for n in range(2, 10):
            document["sequencers"].append(
                {
                    "id": f"MIS-MAD-{n:02d}",
                    "gateway": "gw-a",
                    "platform": "miseq",
                    "data_rate": "0.5 GB/h",
                }
            )

    config = load_lake_config(edited_config(tmp_path, SMALL_CONFIG, edit, "lake.yaml"))
    # The PromethION on gw-b (8 TiB) configured at 10 GB/h but observed at 25 GB/h:
    # 8,796,093,022,208 / (25e9 x 24) = 14.66 days; 21 days need 12.6 TB, 3.46 TiB more.
    figures = {g.gateway_id: g for g in gateway_capacity(config, {"PRM-MAD-01": 25e9})}
    assert round(figures["gw-b"].buffer_days, 2) == 36.65
    assert round(figures["gw-b"].observed_buffer_days, 2) == 14.66
    assert not figures["gw-b"].meets_target
    assert figures["gw-a"].sequencers == 10
    assert recommendations(config, list(figures.values())) == [
        "gw-a (madison) is full: 10 of 10",
        "gw-b (madison) holds 14.7 days at observed rates, under the 21-day target: grow its "
        "cache by 3.5 TiB or move a sequencer to another gateway",
        "site madison needs another appliance before adding any of NovaSeq X, NovaSeq 6000, "
        "NextSeq 2000, NextSeq 1000, NextSeq 550, MiniSeq, MiSeq, iSeq 100, PromethION, GridION, "
        "MinION (and Flongle), Revio, Sequel II/IIe, AVITI",
    ]


NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _run(key: str, start: datetime, last: datetime) -> Run:
    return Run(
        run_key=key,
        run_folder=key,
        state=RunState.STARTED,
        sequencer_id="NVX-MAD-01",
        platform="novaseq-x",
        site="madison",
        bucket="small-lake-nvx-mad-01",
        share_arn="arn:aws:storagegateway:us-east-1:123456789012:share/share-1",
        started_at=start,
        last_activity_at=last,
    )


def _file(size: int, at: datetime) -> RunFile:
    return RunFile("run", "file", size, at, "event", at)


def test_observed_rate_counts_bytes_per_active_hour_inside_the_window():
    since = NOW - timedelta(days=7)
    runs = [
        _run("A", NOW - timedelta(hours=10), NOW - timedelta(hours=8)),  # 2 h active
        # Began before the window: only its last 3 hours count, and only files inside it.
        _run("B", since - timedelta(hours=5), since + timedelta(hours=3)),
        _run("C", since - timedelta(days=2), since - timedelta(days=1)),  # wholly before
    ]
    files = {
        "A": [
            _file(30_000_000_000, NOW - timedelta(hours=9)),
            _file(6_000_000_000, NOW - timedelta(hours=8)),
        ],
        "B": [
            _file(24_000_000_000, since + timedelta(hours=1)),
            _file(99, since - timedelta(hours=1)),
        ],
        "C": [_file(5, since - timedelta(days=1))],
    }
    total, hours, active = observed_rate(runs, files, since, NOW)
    assert (total, hours, active) == (60_000_000_000, 5.0, 2)
    rate = ObservedRate("NVX-MAD-01", 20e9, total, hours, active)
    assert rate.bytes_per_hour == 12e9
    assert rate.flagged  # 60% of the configured 20 GB/h
    assert not ObservedRate("X", 20e9, 34e9, 2.0, 1).flagged  # 17 GB/h: 15% off
    assert ObservedRate("X", 20e9, 0, 0.0, 0).bytes_per_hour is None  # idle is not flagged
    assert not ObservedRate("X", 20e9, 0, 0.0, 0).flagged


def _record_fast_promethion(lake: Lake) -> None:
    """A PromethION run active for the last hour that uploaded 25 GB: 25 GB/h observed."""
    now = datetime.now(UTC)
    ledger = lake.ledger()
    run_key = "PRM-MAD-01/exp/sample/20261129_0100_1A_PAQ12345_0a1b2c3d"
    lake.start_run(run_key, now - timedelta(hours=1))
    ledger.touch({run_key: now})
    ledger.write_batch(
        [
            RunFile(run_key, f"pod5/batch_{i}.pod5", 5_000_000_000, now, f"e{i}", now)
            for i in range(5)
        ],
        [],
    )


def test_the_asset_checks_observed_rates_and_writes_chart_and_html(lake):
    _record_fast_promethion(lake)
    with dg.instance_for_test() as instance:
        result = dg.materialize([capacity_report], instance=instance, resources=resources_for(lake))
        assert result.success
        (check,) = result.get_asset_check_evaluations()
        (materialization,) = result.asset_materializations_for_node("capacity_report")
    assert not check.passed
    assert check.description.startswith("gw-b holds 14.")  # 8 TiB at ~25 GB/h
    metadata = materialization.metadata
    rows = {r.data["gateway"]: r.data for r in metadata["gateways"].value.records}
    assert rows["gw-b"]["buffer days"] == 36.7
    assert rows["gw-b"]["meets target"] == "NO"
    assert rows["gw-a"]["sequencers"] == "2 / 10"
    assert rows["gw-a"]["dirty"] == "0 B"  # from the running gateway's DescribeCache
    rates = {r.data["sequencer"]: r.data for r in metadata["observed rates"].value.records}
    assert rates["PRM-MAD-01"]["flag"] == "off by more than 20%"
    assert rates["NVX-MAD-01"]["observed (7 d)"] == "idle"
    sites = {r.data["site"]: r.data for r in metadata["sites"].value.records}
    assert 14 < sites["madison"]["lowest buffer days"] < 15  # gw-b's, as the check says
    assert sites["madison"]["appliances"] == "gw-a (8 slots free), gw-b (9 slots free)"
    assert sites["madison"]["cache"] == "24.0 TiB"  # 16 TiB + 8 TiB
    assert sites["madison"]["cache used"] == "0 B of 24.0 TiB (0%)"  # the gateways' DescribeCache
    assert sites["madison"]["full-time write, configured"] == "30.5 GB/h"  # 20 + 0.5 + 10
    assert sites["madison"]["full-time write, observed (7 d)"] == "25.0 GB/h"  # PRM-MAD-01
    assert sites["madison"]["headroom"].startswith("novaseq-6000 1, nextseq-2000 3,")
    assert sites["madison"]["meets target"] == "NO"
    page = (
        lake.clients.s3()
        .get_object(Bucket="small-lake-catalog", Key="reports/capacity/latest.html")["Body"]
        .read()
        .decode()
    )
    chart = page.split("alt='buffer days per gateway' src='data:image/png;base64,", 1)[1]
    png = base64.b64decode(chart.split("'", 1)[0])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert "site madison needs another appliance before adding a NovaSeq X" in page
    assert "gw-b (madison) holds 14." in page
    assert "<td>NVX-MAD-01</td>" in page


def test_the_asset_check_passes_for_a_lake_on_its_configured_rates(lake):
    with dg.instance_for_test() as instance:
        result = dg.materialize([capacity_report], instance=instance, resources=resources_for(lake))
        (check,) = result.get_asset_check_evaluations()
    assert check.passed
    assert check.description == "every gateway meets the target"
