"""One capacity report, written out: today's history rows, the trend from every recorded day, a
page per site and the index, all in the catalogue bucket (boto3 only, no Dagster), so the same
code runs in the asset and in tests against moto with explicit dates."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ngs_lake.aws.storage_gateway import CacheBacklog
from ngs_lake.capacity.dashboard import (
    REPORT_PREFIX,
    Page,
    browser_link,
    index_page,
    publish,
    site_page,
    trend_chart,
)
from ngs_lake.capacity.figures import GatewayCapacity
from ngs_lake.capacity.history import history_rows, read_history, record_day, site_trend
from ngs_lake.capacity.observed import ObservedRate
from ngs_lake.capacity.report import buffer_chart
from ngs_lake.capacity.sites import SiteCapacity, site_capacity
from ngs_lake.config.model import LakeConfig


@dataclass(frozen=True)
class CapacityInputs:
    """The figures one report is made of, computed by the caller."""

    gateways: list[GatewayCapacity]
    backlog: dict[str, CacheBacklog]
    rates: list[ObservedRate]
    gateway_rows: list[dict[str, Any]]
    rate_rows: list[dict[str, Any]]
    advice: list[str]


@dataclass(frozen=True)
class Dashboard:
    sites: list[SiteCapacity]
    index_key: str
    index_url: str  # opens in a browser (presigned)
    site_urls: dict[str, str]
    trend: dict[str, list[tuple[str, float]]]  # site -> (day, lowest buffer days)


def write_dashboard(
    s3: Any, bucket: str, config: LakeConfig, now: datetime, inputs: CapacityInputs
) -> Dashboard:
    day = now.date()
    record_day(s3, bucket, day, history_rows(day, inputs.gateways, inputs.backlog))
    trend = site_trend(read_history(s3, bucket))
    sites = site_capacity(config, inputs.gateways, inputs.backlog, inputs.rates)
    folder = f"{REPORT_PREFIX}/{day.isoformat()}"
    target = config.lake.cache_buffer_days
    pages: list[Page] = []
    links: dict[str, str] = {}
    for site in sites:
        points = trend.get(site.site, [])
        chart = base64.b64encode(trend_chart(site.site, points, target)).decode()
        sequencers = {r.sequencer_id for r in site.rates}
        body = site_page(
            site,
            now,
            chart,
            len(points),
            [r for r in inputs.gateway_rows if r.get("site") == site.site],
            [r for r in inputs.rate_rows if r.get("sequencer") in sequencers],
        )
        key = f"{folder}/site-{site.site}.html"
        pages.append(Page(key, body))
        links[site.site] = browser_link(s3, bucket, key)
    overall = base64.b64encode(buffer_chart(inputs.gateways, target)).decode()
    index = index_page(
        now, sites, links, inputs.advice, inputs.gateway_rows, inputs.rate_rows, overall
    )
    index_key = f"{folder}/index.html"
    pages += [Page(index_key, index), Page(f"{REPORT_PREFIX}/latest.html", index)]
    publish(s3, bucket, pages)
    return Dashboard(sites, index_key, browser_link(s3, bucket, index_key), links, trend)
