"""The lake as one lineage graph, and the capacity history and dashboard links: fast, against the
Definitions and a moto server (no daemon)."""

from __future__ import annotations

import html
import re
import urllib.request
from datetime import UTC, datetime

import dagster as dg

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.capacity.figures import gateway_capacity
from ngs_lake.capacity.publication import CapacityInputs, write_dashboard
from ngs_lake.config.document import load_lake_config
from ngs_lake.definitions import defs
from ngs_lake.inventory.catalogue_page import publish_catalogue_index
from ngs_lake_tests.conftest import REPO, SMALL_CONFIG

K = dg.AssetKey


def _graph() -> dict[dg.AssetKey, set[dg.AssetKey]]:
    graph = defs().get_repository_def().asset_graph
    return {key: set(graph.get(key).parent_keys) for key in graph.get_all_asset_keys()}


def _reaches(parents: dict, start: dg.AssetKey, end: dg.AssetKey) -> bool:
    children: dict = {}
    for key, ups in parents.items():
        for up in ups:
            children.setdefault(up, set()).add(key)
    seen, todo = {start}, [start]
    while todo:
        for nxt in children.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return end in seen


def test_the_lake_is_one_connected_graph_from_the_config_to_the_capacity_report(monkeypatch):
    monkeypatch.setenv("NGS_LAKE_CONFIG", str(SMALL_CONFIG))
    parents = _graph()
    # Walked undirected from the config document, every asset is reached: one graph.
    neighbours: dict = {k: set(v) for k, v in parents.items()}
    for key, ups in parents.items():
        for up in ups:
            neighbours.setdefault(up, set()).add(key)
    seen, todo = {K("lake_config")}, [K("lake_config")]
    while todo:
        for nxt in neighbours[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert seen == set(parents)
    # 12 assets, whatever the number of sequencers: buckets and reports are partitioned by them.
    assert len(parents) == 12
    # And the directed paths the issues name: the document is planned, the plan applied.
    assert parents[K("provisioning_plan")] == {K("lake_config")}
    assert parents[K("provisioned_lake")] == {K("provisioning_plan")}
    assert parents[K("sequencer_bucket")] == {K("provisioned_lake")}
    assert K("sequencer_bucket") in parents[K("sequencing_run")]
    assert parents[K("run_manifest")] == {K("sequencing_run")}
    assert parents[K("inventory_report")] == {K("sequencer_bucket")}
    assert parents[K("runs_in_flight")] == {K("run_ledger")}
    assert K("inventory_report") in parents[K("inventory_catalog")]
    graph = defs().get_repository_def().asset_graph
    sequencers = ["MIS-MAD-01", "NVX-MAD-01", "PRM-MAD-01"]
    for key in (K("sequencer_bucket"), K("inventory_report")):
        assert graph.get(key).partitions_def.get_partition_keys() == sequencers
    assert parents[K("capacity_report")] == {
        K("inventory_catalog"),
        K("run_ledger"),
        K("lake_config"),
    }
    assert _reaches(parents, K("lake_config"), K("run_manifest"))
    assert _reaches(parents, K("lake_config"), K("capacity_report"))
    assert parents[K("fixity_audit")] == {K("sequencer_bucket"), K("sequencing_run")}


def _clients(moto) -> AwsClients:
    return AwsClients(
        AwsTarget("us-east-1", moto.endpoint, name="local"),
        {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
    )


def _open(url: str) -> tuple[str, str]:
    """What a browser gets: a plain HTTP GET of the link."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.headers["Content-Type"], answer.read().decode()


def test_three_days_of_reports_give_three_points_on_each_sites_trend_and_links_that_open(moto):
    config = load_lake_config(SMALL_CONFIG)
    clients = _clients(moto)
    s3 = clients.s3()
    s3.create_bucket(Bucket="small-lake-catalog")
    inputs = CapacityInputs(gateway_capacity(config), {}, [], [], [], ["advice"])
    for day in (3, 1, 2, 2):  # out of order, and day 2 twice: still one row per gateway a day
        dashboard = write_dashboard(
            s3, "small-lake-catalog", config, datetime(2026, 11, day, 9, tzinfo=UTC), inputs
        )
    listed = s3.list_objects_v2(Bucket="small-lake-catalog", Prefix="reports/capacity/history/")
    assert [o["Key"] for o in listed["Contents"]] == [
        f"reports/capacity/history/2026-11-0{d}.json" for d in (1, 2, 3)
    ]
    # gw-a: 16 TiB / ((20 + 0.5) GB/h x 24) = 35.76 days, the lower of madison's two gateways.
    assert dashboard.trend == {
        "madison": [("2026-11-01", 35.76), ("2026-11-02", 35.76), ("2026-11-03", 35.76)]
    }
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in dashboard.index_url  # SigV4, as SSE-KMS needs
    content_type, index = _open(dashboard.index_url)
    assert content_type.startswith("text/html")
    assert "<h1>Capacity report</h1>" in index
    # The columns an operator acts on first lead the site table, in the UI and on the page.
    first = ["site", "lowest buffer days", "meets target", "headroom"]
    assert list(dashboard.sites[0].cells())[:4] == first
    assert "".join(f"<th>{c}</th>" for c in first) in index
    site_url = dashboard.site_urls["madison"]
    assert f"<a href='{site_url.replace('&', '&amp;')}'>madison</a>" in index
    content_type, page = _open(site_url)
    assert content_type.startswith("text/html")
    assert "<h2>Buffer days, last 3 days recorded</h2>" in page
    assert "data:image/png;base64,iVBORw0KGgo" in page


def test_the_lineage_at_the_default_config_has_at_most_30_asset_nodes(monkeypatch):
    """As the UI reads it: GraphQL's assetNodes for the code location at the default document
    (25 sequencers), so the expanded lineage stays readable (issue #36: main had 57 nodes).
    The location loads in this process (Dagster's in-process workspace), as a code server would
    load it, without the second interpreter's start-up."""
    from dagster._core.test_utils import in_process_test_workspace
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster_graphql.test.utils import execute_dagster_graphql

    document = load_lake_config(REPO / "config" / "lake.yaml")
    assert len(document.sequencers) == 25
    monkeypatch.setenv("NGS_LAKE_CONFIG", str(REPO / "config" / "lake.yaml"))
    query = "{ assetNodes { assetKey { path } isPartitioned partitionKeys } }"
    origin = LoadableTargetOrigin(module_name="ngs_lake.definitions", attribute="defs")
    with (
        dg.instance_for_test() as instance,
        in_process_test_workspace(instance, origin) as context,
    ):
        nodes = execute_dagster_graphql(context, query).data["assetNodes"]
    keys = {"/".join(n["assetKey"]["path"]): n["isPartitioned"] for n in nodes}
    assert len(keys) <= 30, sorted(keys)
    assert keys["sequencer_bucket"] and keys["inventory_report"] and "runs_in_flight" in keys
    (bucket,) = [n for n in nodes if n["assetKey"]["path"] == ["sequencer_bucket"]]
    assert bucket["partitionKeys"] == sorted(s.id for s in document.sequencers)


def test_the_catalogue_link_opens_a_page_whose_links_open_the_files(moto):
    """inventory_catalog's "catalogue" link: an HTML index, not S3's ListObjects XML."""
    s3 = _clients(moto).s3()
    s3.create_bucket(Bucket="page-lake-catalog")
    s3.put_object(Bucket="page-lake-catalog", Key="catalog/runs/data.parquet", Body=b"PAR1")
    url = publish_catalogue_index(s3, "page-lake-catalog", datetime(2026, 12, 1, tzinfo=UTC))
    content_type, page = _open(url)
    assert content_type.startswith("text/html")
    assert "<h1>Inventory catalogue</h1>" in page and "<ListBucketResult" not in page
    (link,) = re.findall(r"<a href='([^']+)'>catalog/runs/data.parquet</a>", page)
    with urllib.request.urlopen(html.unescape(link), timeout=10) as answer:
        assert answer.read() == b"PAR1"
