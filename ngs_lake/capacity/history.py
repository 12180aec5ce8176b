"""The capacity history: one row per day per gateway, kept in the catalogue bucket.

Each day's rows are one JSON object (`reports/capacity/history/<YYYY-MM-DD>.json`), rewritten by
every report of that day, so a day holds one row per gateway however often the report runs, and
the trend needs no database. Days are UTC dates.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from ngs_lake.aws.storage_gateway import CacheBacklog
from ngs_lake.capacity.figures import GatewayCapacity

HISTORY_PREFIX = "reports/capacity/history/"
TREND_DAYS = 90  # the trend chart's span


@dataclass(frozen=True)
class HistoryRow:
    day: str  # YYYY-MM-DD (UTC)
    site: str
    gateway: str
    buffer_days: float  # the worse of configured and observed rates
    cache_bytes: int
    used_bytes: int | None
    write_bytes_per_day: float


def history_rows(
    day: date, gateways: list[GatewayCapacity], backlog: dict[str, CacheBacklog]
) -> list[HistoryRow]:
    return [
        HistoryRow(
            day=day.isoformat(),
            site=g.site,
            gateway=g.gateway_id,
            buffer_days=round(g.worst_buffer_days, 2),
            cache_bytes=g.cache_bytes,
            used_bytes=backlog[g.gateway_id].used_bytes if g.gateway_id in backlog else None,
            write_bytes_per_day=max(g.write_bytes_per_day, g.observed_write_bytes_per_day),
        )
        for g in gateways
    ]


def record_day(s3: Any, bucket: str, day: date, rows: list[HistoryRow]) -> str:
    key = f"{HISTORY_PREFIX}{day.isoformat()}.json"
    body = json.dumps({"day": day.isoformat(), "gateways": [asdict(r) for r in rows]}, indent=1)
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return key


def read_history(s3: Any, bucket: str, days: int = TREND_DAYS) -> list[HistoryRow]:
    """The last `days` recorded days, oldest first; a day file that does not parse is skipped
    (the trend is a view, the day's report itself is still in the bucket)."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=HISTORY_PREFIX):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
    rows: list[HistoryRow] = []
    for key in sorted(keys)[-days:]:
        try:
            document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            rows += [HistoryRow(**r) for r in document["gateways"]]
        except (ValueError, KeyError, TypeError):
            continue
    return rows


def site_trend(rows: list[HistoryRow]) -> dict[str, list[tuple[str, float]]]:
    """Per site, (day, lowest buffer days of its gateways) in day order."""
    lowest: dict[str, dict[str, float]] = {}
    for r in rows:
        days = lowest.setdefault(r.site, {})
        days[r.day] = min(days.get(r.day, r.buffer_days), r.buffer_days)
    return {site: sorted(days.items()) for site, days in lowest.items()}
